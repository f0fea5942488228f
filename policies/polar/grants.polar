# What each kind of seat may do. Nothing else is granted.

# D4 (since the 2025-10 update): integration users of Books view, create and edit every Books
# finance module, from the CRM.
grant(user, action, rec, ctx, "D4", "books") if
    ctx.channel = "crm" and
    integration_user_of(user, "books") and
    action in ["view", "create", "edit"] and
    rec.module in ["estimate", "sales_order", "invoice", "purchase_order"];

# D10: integration users of Subscriptions view and create subscriptions, run the reports of the
# "Subscriptions Reports" folder and view the two Subscriptions dashboards, from the CRM.
grant(user, action, rec, ctx, "D10", "subscriptions") if
    ctx.channel = "crm" and
    integration_user_of(user, "subscriptions") and
    subscriptions_enrolment_covers(action, rec);

subscriptions_enrolment_covers(action, rec) if
    action in ["view", "create"] and rec.module = "subscription";
subscriptions_enrolment_covers("view", rec) if
    rec.module = "report" and rec.folder = "Subscriptions Reports";
subscriptions_enrolment_covers("view", rec) if
    rec.module = "dashboard" and rec.title in ["Subscriptions Overview", "Subscriptions Insights"];

# D6: a member does what the product role grants, in the CRM as in the product. D9: every
# product that owns the record counts, so shared modules open through either; approving goes
# only through a product that switched approval on for the module (R2).
grant(user, action, rec, _ctx, "D6", product) if
    record_action(action) and
    product in rec.products and
    member_of(user, product, seat) and
    seat.grants_action(rec.module, action) and
    (action != "approve" or product in rec.approval_by);

# D12: CRM admins enrol integration users and run the migration.
grant(user, "enrol_integration_user", _target: User, _ctx, "D12", "crm") if
    user.crm_admin = true;
grant(user, "run_migration", _org: Org, _ctx, "D12", "crm") if
    user.crm_admin = true;

# Which rule grants each kind of seat, so that a deny can say whose grant ended where.
seat_rule("books", "integration", "D4");
seat_rule("subscriptions", "integration", "D10");
seat_rule(_product, "member", "D6");
