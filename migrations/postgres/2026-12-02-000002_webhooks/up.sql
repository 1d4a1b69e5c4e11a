-- Outbound webhooks (docs/webhooks.md): a runner's subscriptions, the outbox of messages to
-- deliver (written in the same transaction as the change that caused them), and every
-- delivery attempt. Every table names its user, so deleting an account removes all of it.

CREATE TABLE webhook_subscriptions (
    id          UUID PRIMARY KEY NOT NULL,
    user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    -- The event types it receives, comma separated in catalogue order.
    events      TEXT NOT NULL,
    -- The signing secret (`whsec_` + base64). Kept as is: every delivery is signed with it.
    secret      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
-- A user's subscriptions (the sync's lookup, the list) and the cascade from users.
CREATE INDEX webhook_subscriptions_user_idx ON webhook_subscriptions (user_id, created_at);

-- One message to one subscription: the exact body, signed afresh on each attempt under the
-- same `event_id` (the `webhook-id` header).
CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY NOT NULL,
    subscription_id UUID NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event_id        UUID NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- pending, delivered (a 2xx), failed (the retry schedule ran out).
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- While pending: when the next attempt is due, or, while a worker holds it, when its claim
    -- lapses. Null once done.
    next_attempt_at TIMESTAMPTZ,
    -- The claim of the worker delivering it now; its result counts only under this claim.
    claim_token     UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ
);
-- The worker's due-delivery query: pending rows by due time, nothing else in the index.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- One message per event and subscription; also serves the cascade from subscriptions.
CREATE UNIQUE INDEX webhook_deliveries_subscription_event_idx
    ON webhook_deliveries (subscription_id, event_id);
-- The cascade from users.
CREATE INDEX webhook_deliveries_user_idx ON webhook_deliveries (user_id);

CREATE TABLE webhook_attempts (
    id              UUID PRIMARY KEY NOT NULL,
    delivery_id     UUID NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Copied from the delivery so the list of a subscription's attempts needs no join.
    subscription_id UUID NOT NULL,
    event_id        UUID NOT NULL,
    event_type      TEXT NOT NULL,
    -- 1 for the first attempt of the delivery.
    attempt         INTEGER NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    duration_ms     BIGINT NOT NULL,
    -- The receiver's status; null when none came (timeout, refused target, connection error).
    status_code     INTEGER,
    error           TEXT,
    -- When the retry is due; null when this attempt ended the delivery.
    next_attempt_at TIMESTAMPTZ
);
-- `GET /webhooks/{id}/deliveries` (newest first) and the cascade from users.
CREATE INDEX webhook_attempts_user_subscription_idx
    ON webhook_attempts (user_id, subscription_id, started_at DESC, id DESC);
-- The cascade from deliveries.
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id);
