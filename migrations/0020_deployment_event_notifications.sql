-- A project's event stream (`GET /projects/{id}/events`) wakes when a
-- status change of the project is recorded, instead of looking on a
-- timer: payload the project id (see 0019 for what a notification means,
-- and `contaxy_common::store::changes` for the channel names). The stream
-- still reads a change only once its settle window has passed.
CREATE FUNCTION contaxy_notify_deployment_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('contaxy_deployment_event', NEW.project_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER deployment_events_notify
    AFTER INSERT ON deployment_events
    FOR EACH ROW
    EXECUTE FUNCTION contaxy_notify_deployment_event();
