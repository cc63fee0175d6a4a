-- The RabbitMQ user that published a broker-origin action, when the
-- message carried the AMQP `user_id` property (RabbitMQ refuses a message
-- whose `user_id` is not the connection's user, so it is authenticated),
-- kept next to the `requested_by` the producer claims.
ALTER TABLE actions ADD COLUMN broker_user TEXT;
