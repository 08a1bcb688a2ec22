-- Retention (alerts/retention.py) looks for rejected messages and planned notifications older
-- than its cut after every scheduler pass; without an index on those times each look is a
-- scan of the whole table, every minute. Rows arrive in time order, so BRIN indexes (a few
-- pages each) are enough and cost almost nothing to keep up.
CREATE INDEX rejected_messages_received_brin_idx ON rejected_messages USING brin (received_at);
CREATE INDEX outbox_planned_brin_idx ON outbox USING brin (planned_at);
