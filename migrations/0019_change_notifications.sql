-- Change notifications (LISTEN/NOTIFY), so that a request waiting for an
-- action's outcome (`wait=true`) and a project's event stream wake when
-- what they wait for changed, instead of re-reading on a timer. A
-- notification only says "read again": the rows stay the truth, and the
-- API still re-reads now and then in case one is lost
-- (`contaxy_common::store::changes` holds the channel names).
--
-- The WHEN clauses keep writes that change nothing a waiter looks at from
-- calling a function at all. NOTIFY is per database, and PostgreSQL sends
-- a notification only when its transaction commits, once per distinct
-- payload and channel in that transaction.

-- An action reached a final status: payload the action id.
CREATE FUNCTION contaxy_notify_action_ended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('contaxy_action_ended', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER actions_notify_ended
    AFTER UPDATE OF status ON actions
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION contaxy_notify_action_ended();

-- A deployment's status changed, or its row went: payload the deployment
-- id (the table's primary key). Other changes (a PATCH of its spec) do not
-- notify; a waiter that cares sees them on its next re-read.
CREATE FUNCTION contaxy_notify_deployment_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('contaxy_deployment_status', OLD.id);
    ELSE
        PERFORM pg_notify('contaxy_deployment_status', NEW.id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER deployments_notify_status
    AFTER UPDATE OF status ON deployments
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION contaxy_notify_deployment_status();

CREATE TRIGGER deployments_notify_deleted
    AFTER DELETE ON deployments
    FOR EACH ROW
    EXECUTE FUNCTION contaxy_notify_deployment_status();
