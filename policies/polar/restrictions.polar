# What takes a grant away. A restriction restricts whatever grants a union brings (D9).

# D1: an action runs as the acting user, never as anybody else.
restrict(user, _action, _resource, ctx, "D1") if
    ctx.acting_as != nil and ctx.acting_as != user.id;

# D11: mail leaves from the acting user's own address.
restrict(user, "send_email", _resource, ctx, "D11") if
    ctx.sender != nil and ctx.sender != user.email;

# D12 rollout: in the US data centre only editions below Enterprise have the per-user model.
restrict(user, _action, _resource, _ctx, "D12") if
    user.org.data_centre = "US" and
    not user.org.edition in ["free", "standard", "professional"];

# D2 (and D1): no seat in a product that owns the record, no access at all; nobody else's
# rights, the integration owner's included, stand in for the missing seat.
restrict(user, action, rec, _ctx, rule) if
    rule in ["D2", "D1"] and
    record_action(action) and
    not reaching_seat(user, rec, _);

# D3: from the CRM, the CRM profile must allow the action on the module.
restrict(user, action, rec, ctx, "D3") if
    record_action(action) and
    ctx.channel = "crm" and
    not user.profile_allows_action(rec.module, action);

# D10: nobody without Subscriptions rights of their own reaches Subscriptions records, the
# "Subscriptions Reports" folder or the two dashboards (named beside D2: R3).
restrict(user, action, rec, _ctx, "D10") if
    record_action(action) and
    subscriptions_scope(rec) and
    not has_seat(user, "subscriptions");

# D5: integration users never act in the product directly. Outside the CRM only a membership
# in a product that owns the record will do.
restrict(user, action, rec, ctx, "D5") if
    record_action(action) and
    ctx.channel != "crm" and
    not (product in rec.products and member_of(user, product, _));

# D7: an edit may not touch a field hidden or read-only for any seat that reaches the record.
restrict(user, "edit", rec, ctx, "D7") if
    reaching_seat(user, rec, seat) and
    field in ctx.fields and
    (field in seat.hidden_fields or field in seat.readonly_fields);

# D8: approval. Only pending records are approved, never by their submitter and only through a
# product that switched approval on; where approval is on, nothing is sent or converted before
# approval; only approvers edit a pending record; only drafts are submitted.
restrict(_user, "approve", rec, _ctx, "D8") if
    not (rec.approval = true and rec.status = "pending_approval");
restrict(user, "approve", rec, _ctx, "D8") if
    rec.submitted_by = user.id;
# R2: approval belongs to the product that switched it on; approving goes through its role.
restrict(user, "approve", rec, _ctx, "D8") if
    not approver(user, rec);
restrict(_user, action, rec, _ctx, "D8") if
    action in ["send_email", "convert"] and
    rec.approval = true and
    rec.status != "approved";
restrict(user, "edit", rec, _ctx, "D8") if
    rec.status = "pending_approval" and
    not approver(user, rec);

# An approver of a record: a member whose role grants approve on its module, in a product that
# switched approval on for that module (R2).
approver(user, rec) if
    product in rec.approval_by and
    member_of(user, product, seat) and
    seat.grants_action(rec.module, "approve");
restrict(_user, "submit", rec, _ctx, "D8") if
    not (rec.approval = true and rec.status = "draft");

# D12: only CRM admins enrol or migrate; a member is not enrolled into its own product; one
# enrolment per product; the migration and every enrolment stay within the org's limit of
# integration users (R1); new orgs have nothing to migrate.
restrict(user, action, _resource, _ctx, "D12") if
    action in ["enrol_integration_user", "run_migration"] and
    user.crm_admin = false;
restrict(_user, "enrol_integration_user", target: User, ctx, "D12") if
    has_seat(target, ctx.product);
restrict(_user, "run_migration", org: Org, ctx, "D12") if
    ctx.enrolments > 0 and
    org.integration_users + ctx.enrolments > org.integration_user_limit;
# R1: the limit counts every integration user of the org once, however enrolled, so an
# enrolment that adds one past it is refused; enrolling an integration user into a second
# product adds nobody.
restrict(user, "enrol_integration_user", target: User, _ctx, "D12") if
    user.org.integration_users >= user.org.integration_user_limit and
    not integration_user_of(target, _);
restrict(_user, "run_migration", org: Org, _ctx, "D12") if
    org.new_org = true;
