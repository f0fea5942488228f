# What an allowed decision carries besides "allow", written from the rule book a second time
# (the Cedar side is ../obligations.cedar). The engine asks these only after an allow.
#   held(user, action, resource, ctx, rule)            a rule checked on the request that held
#   redact(user, action, resource, ctx, field, rule)   a field of the module the view hides
#   sender(user, action, resource, ctx, address, rule) the address a mail leaves from

# D8: where approval is switched on for the module, approving, submitting, sending, converting
# and editing went through the approval process.
held(_user, action, rec, _ctx, "D8") if
    action in ["approve", "submit", "send_email", "convert", "edit"] and
    rec.approval = true;

# D10: Subscriptions records, the "Subscriptions Reports" folder and the two dashboards need
# the user's own Subscriptions rights, and they were there.
held(_user, action, rec, _ctx, "D10") if
    record_action(action) and
    subscriptions_scope(rec);

# D9: an integration user of several products acts with the union of their enrolments.
held(user, action, _rec, _ctx, "D9") if
    record_action(action) and
    integration_user_of(user, "books") and
    integration_user_of(user, "subscriptions");

subscriptions_scope(rec) if rec.module = "subscription";
subscriptions_scope(rec) if rec.module = "report" and rec.folder = "Subscriptions Reports";
subscriptions_scope(rec) if
    rec.module = "dashboard" and
    rec.title in ["Subscriptions Overview", "Subscriptions Insights"];

# D7: a view hides every field of the module the role of any seat reaching the record hides.
redact(user, "view", rec, _ctx, field, "D7") if
    reaching_seat(user, rec, seat) and
    field in seat.hidden_of(rec.module);

# D11: mail leaves from the acting user's own address.
sender(user, "send_email", _rec, _ctx, address, "D11") if
    address = user.email;
