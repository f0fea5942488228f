# suite-authz, the second encoding: the rules D1-D12 in Polar, written from the rule book.
#
# A request is allowed when some grant covers it and no restriction applies:
#   grant(user, action, resource, ctx, rule, product)   who may, by which rule, as whom
#   restrict(user, action, resource, ctx, rule)         what takes it away, by which rule
# The engine asks for every grant and every restriction, so a decision names all of them.
# Rule heads carry no class specializers (each costs a call into Python per clause tried);
# instead every clause tests the action before it reads a record's attributes, since only
# record actions come with records (the engine checks requests before asking).

allowed(user, action, resource, ctx) if
    grant(user, action, resource, ctx, _rule, _product) and
    not restrict(user, action, resource, ctx, _);

record_action(action) if
    action in ["view", "create", "edit", "delete", "approve", "submit", "send_email",
               "convert", "void"];

# A seat is a user's identity in one product: a member (licensed, with a role) or an
# integration user (enrolled without a licence).
member_of(user, product, seat) if
    seat in user.seats and seat.product = product and seat.member = true;

integration_user_of(user, product) if
    seat in user.seats and seat.product = product and seat.member = false;

has_seat(user, product) if
    seat in user.seats and seat.product = product;

# The seats that reach a record: one in a product that owns it.
reaching_seat(user, rec, seat) if
    seat in user.seats and seat.product in rec.products;

