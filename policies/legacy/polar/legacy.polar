# The old, admin-borrowed model, written a second time (the Cedar set is ../legacy.cedar), to
# compare against only. The integration called the finance products with the integration
# owner's credentials: a request comes with `acting_as` set to the owner, and the owner's seat
# in a product that owns the record decides, gated by the CRM user's profile alone. Approval,
# field rules and the user's own seats were not applied.

allowed(user, action, resource, ctx) if
    grant(user, action, resource, ctx, _rule, _product) and
    not restrict(user, action, resource, ctx, _);

grant(user, action, rec, ctx, "D12", product) if
    action in ["view", "create", "edit", "delete", "approve", "submit", "send_email",
               "convert", "void"] and
    ctx.channel = "crm" and
    user.profile_allows_action(rec.module, action) and
    owner = ctx.acting_as_user and owner != nil and
    product in rec.products and
    seat = owner.seat_in(product) and seat != nil and seat.member = true and
    seat.grants_action(rec.module, action);

# Nothing was taken away in the old model.
restrict(_user, _action, _resource, _ctx, _rule) if false;

# No seat of the user's own granted anything through the CRM.
seat_rule(_product, _seat, _rule) if false;

# What an allow carried in the old model: mail left from the integration owner's address (the
# first of the four problems of the old model); no field was hidden and no other rule was checked.
sender(_user, "send_email", _rec, ctx, address, "D12") if
    owner = ctx.acting_as_user and owner != nil and
    address = owner.email;
held(_user, _action, _rec, _ctx, _rule) if false;
redact(_user, _action, _rec, _ctx, _field, _rule) if false;
