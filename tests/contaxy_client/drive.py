"""Drives contaxy's own Python client (PyPI `contaxy`, `contaxy.clients`),
exactly as shipped, against a running API, and prints one line per call:

    works <call>
    fails <call>: <error>

Each call's result is asserted, not only the absence of an exception. The
exit status is 0 when the script ran to its end (whatever the calls did);
the Rust test (tests/tests/contaxy_client.rs) decides which calls must
work. Settings come from the environment: CONTAXY_API_URL, CONTAXY_TOKEN
(an admin token), CONTAXY_PROJECT (an existing project), CONTAXY_IMAGE.

The API runs with CONTAXY_API_WAIT_BY_DEFAULT on, so its deployment
changes finish before they answer, as contaxy's did: the script asserts
each change's result right after the call, without polling.
"""

import os
import sys
import time
import traceback
from datetime import datetime, timedelta, timezone

import hashlib
import io

from contaxy.clients import (
    AuthClient,
    DeploymentClient,
    FileClient,
    ProjectClient,
    SystemClient,
)
from contaxy.clients.shared import BaseUrlSession
from contaxy.schema import (
    AccessLevel,
    OAuth2TokenRequestFormNew,
    UserInput,
    UserRegistration,
    FileInput,
    JobInput,
    ProjectCreation,
    ProjectInput,
    ServiceInput,
    TokenType,
)
from contaxy.schema.deployment import DeploymentCompute, ServiceUpdate
from contaxy.schema.system import AllowedImageInfo

API_URL = os.environ["CONTAXY_API_URL"].rstrip("/")
TOKEN = os.environ["CONTAXY_TOKEN"]
PROJECT = os.environ["CONTAXY_PROJECT"]
IMAGE = os.environ["CONTAXY_IMAGE"]
# Busybox: stays up until stopped, printing one line first.
IDLE = "echo hello-from-service; trap 'exit 0' TERM; sleep 3600 & wait"
DEADLINE = 60.0


def session(token: str) -> BaseUrlSession:
    """A session as a contaxy user makes one: base URL and a bearer token.
    Nothing else is set (no Content-Type)."""
    s = BaseUrlSession(base_url=API_URL)
    s.headers["Authorization"] = f"Bearer {token}"
    return s


results = []


def call(name, fn):
    """Runs one client call; `fn` asserts its result."""
    try:
        fn()
    except Exception as error:  # noqa: BLE001 -- every failure is reported
        message = f"{type(error).__name__}: {error}"
        if hasattr(error, "status_code"):  # fastapi's HTTPException
            message = f"HTTP {error.status_code}: {getattr(error, 'detail', '')}"
        message = message.replace("\n", " ")[:400]
        if isinstance(error, AssertionError):
            frame = traceback.extract_tb(error.__traceback__)[-1]
            message = f"assertion at line {frame.lineno}: {frame.line} {error}"
        print(f"fails {name}: {message}", flush=True)
        results.append((name, False))
    else:
        print(f"works {name}", flush=True)
        results.append((name, True))


def fail(what):
    raise AssertionError(f"unexpected {what}")


def eventually(what, check):
    """Polls `check` until it returns a true value."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


admin = session(TOKEN)
system = SystemClient(admin)
projects = ProjectClient(admin)
auth = AuthClient(admin)
deployments = DeploymentClient(admin)
files = FileClient(admin)
state = {}

# --- SystemClient ----------------------------------------------------------


def system_info():
    info = system.get_system_info()
    assert info.version and info.namespace and info.system_state == "running", info


def system_statistics():
    stats = system.get_system_statistics()
    # The test's one project; nothing deployed yet.
    assert stats.project_count == 1, stats
    assert stats.service_count == 0 and stats.job_count == 0, stats


IMAGE_NAME, IMAGE_TAG = IMAGE.rsplit(":", 1)


def refused(image):
    """The deploy of `image` is refused, naming the allow-list."""
    try:
        deployments.deploy_service(
            PROJECT, ServiceInput(container_image=image, display_name="not-allowed")
        )
    except Exception as error:  # noqa: BLE001 -- the 400 is the point
        assert getattr(error, "status_code", None) == 400, error
        assert "allowed images" in str(getattr(error, "detail", "")) + str(error), error
    else:
        fail(f"deploy of {image} past the allow-list")


def allowed_images_add():
    added = system.add_allowed_image(
        AllowedImageInfo(image_name=IMAGE_NAME, image_tags=[IMAGE_TAG])
    )
    assert added.image_name == IMAGE_NAME and added.image_tags == [IMAGE_TAG], added
    # Once the list has an entry, other images and other tags are refused.
    refused("docker.io/library/nginx:1.27")
    refused(f"{IMAGE_NAME}:other")


def allowed_images_list():
    listed = system.list_allowed_images()
    assert [(i.image_name, i.image_tags) for i in listed] == [(IMAGE_NAME, [IMAGE_TAG])], listed


def allowed_images_delete():
    system.delete_allowed_image(IMAGE_NAME)
    # Empty again: every image is allowed.
    assert system.list_allowed_images() == []


call("SystemClient.is_healthy", lambda: system.is_healthy())
call("SystemClient.get_system_info", system_info)
call("SystemClient.get_system_statistics", system_statistics)
# contaxy creates its admin user here; this server has no user store (its
# administrator is CONTAXY_ADMIN_TOKEN): not served.
call("SystemClient.initialize_system", lambda: system.initialize_system())
call("SystemClient.add_allowed_image", allowed_images_add)
call("SystemClient.list_allowed_images", allowed_images_list)
call("SystemClient.delete_allowed_image", allowed_images_delete)

# --- ProjectClient ---------------------------------------------------------
NEW_PROJECT = "client-" + os.urandom(3).hex()


def create_project():
    project = projects.create_project(
        ProjectCreation(id=NEW_PROJECT, display_name="Client project")
    )
    assert project.id == NEW_PROJECT and project.display_name == "Client project", project


def list_projects():
    ids = [p.id for p in projects.list_projects()]
    assert PROJECT in ids and NEW_PROJECT in ids, ids


def get_project():
    project = projects.get_project(NEW_PROJECT)
    assert project.id == NEW_PROJECT, project


def update_project():
    project = projects.update_project(
        NEW_PROJECT, ProjectInput(description="changed by the client")
    )
    assert project.description == "changed by the client", project
    assert projects.get_project(NEW_PROJECT).description == "changed by the client"


def suggest_project_id():
    suggested = projects.suggest_project_id("My New Project")
    assert isinstance(suggested, str) and suggested.startswith("my-new-project"), suggested


def add_member():
    members = projects.add_project_member(NEW_PROJECT, "client-user", AccessLevel.READ)
    assert any(m.id == "client-user" and m.permission == AccessLevel.READ for m in members), members


def list_members():
    members = projects.list_project_members(NEW_PROJECT)
    assert "client-user" in [m.id for m in members], members


def remove_member():
    members = projects.remove_project_member(NEW_PROJECT, "client-user")
    assert "client-user" not in [m.id for m in members], members


def project_token():
    token = projects.get_project_token(NEW_PROJECT, AccessLevel.READ)
    assert isinstance(token, str) and len(token) > 20, token
    state["project_token"] = token
    assert projects.get_project_token(NEW_PROJECT, AccessLevel.READ) == token


call("ProjectClient.create_project", create_project)
call("ProjectClient.list_projects", list_projects)
call("ProjectClient.get_project", get_project)
call("ProjectClient.update_project", update_project)
call("ProjectClient.suggest_project_id", suggest_project_id)
call("ProjectClient.add_project_member", add_member)
call("ProjectClient.list_project_members", list_members)
call("ProjectClient.remove_project_member", remove_member)
call("ProjectClient.get_project_token", project_token)

# --- AuthClient ------------------------------------------------------------


def create_token():
    token = auth.create_token(
        scopes=[f"projects/{PROJECT}#read"],
        token_type=TokenType.API_TOKEN,
        description="made by contaxy's client",
    )
    assert isinstance(token, str) and len(token) > 20, token
    state["api_token"] = token


def list_tokens():
    tokens = auth.list_api_tokens()
    mine = [t for t in tokens if t.description == "made by contaxy's client"]
    assert len(mine) == 1, tokens
    assert mine[0].scopes == [f"projects/{PROJECT}#read"], mine
    # Only hashes are kept: the listed token reveals nothing.
    assert mine[0].token != state.get("api_token"), mine


def verify_access():
    # The admin asks about the read-only token it made: that token, not the
    # admin's own, is checked.
    given = state["api_token"]
    access = auth.verify_access(given, f"projects/{PROJECT}#read")
    assert access.authorized_subject == "users/admin", access
    try:
        auth.verify_access(given, f"projects/{PROJECT}#write")
    except Exception as error:  # PermissionDeniedError
        assert type(error).__name__ == "PermissionDeniedError", error
    else:
        raise AssertionError("a read token was verified for write")


call("AuthClient.create_token", create_token)
call("AuthClient.list_api_tokens", list_tokens)
call("AuthClient.verify_access", verify_access)
# contaxy's users, permissions and OAuth: this server has no user store.
call("AuthClient.list_users", lambda: auth.list_users())
call("AuthClient.get_user", lambda: auth.get_user("admin"))
call("AuthClient.list_permissions", lambda: auth.list_permissions("projects"))
call(
    "AuthClient.list_resources_with_permission",
    lambda: auth.list_resources_with_permission("projects#read"),
)
call(
    "AuthClient.introspect_token",
    lambda: auth.introspect_token(TOKEN),
)
# The writes of the same: not served either.
call(
    "AuthClient.create_user",
    lambda: auth.create_user(UserRegistration(username="someone", password="secret-pass")),
)
call("AuthClient.update_user", lambda: auth.update_user("admin", UserInput(username="renamed")))
call("AuthClient.delete_user", lambda: auth.delete_user("someone"))
call("AuthClient.change_password", lambda: auth.change_password("admin", "new-secret"))
call("AuthClient.get_user_token", lambda: auth.get_user_token("admin"))
call("AuthClient.get_user_with_permission", lambda: auth.get_user_with_permission("admin"))
call("AuthClient.add_permission", lambda: auth.add_permission("users/someone", "projects#read"))
call(
    "AuthClient.remove_permission",
    lambda: auth.remove_permission("users/someone", "projects#read"),
)
call(
    "AuthClient.request_token",
    lambda: auth.request_token(
        OAuth2TokenRequestFormNew(grant_type="password", username="admin", password="x")
    ),
)
call("AuthClient.revoke_token", lambda: auth.revoke_token(TOKEN))

# --- DeploymentClient: services --------------------------------------------


def deploy_service():
    service = deployments.deploy_service(
        PROJECT,
        ServiceInput(
            container_image=IMAGE,
            display_name="client-web",
            command=["sh", "-c", IDLE],
            endpoints=["8080"],
            compute=DeploymentCompute(max_memory=100),
            # Dropped, as contaxy drops them: a user does not choose the
            # GPUs a container sees, nor the platform's labels.
            parameters={
                "NVIDIA_VISIBLE_DEVICES": "all",
                "GREETING": "hi",
                # Templates, answered as the container got them.
                "HERE": "{env.projectId}",
                "SELF": "{env.CONTAXY_SERVICE_URL}",
            },
            metadata={"ctxy.projectName": "someone-else", "team": "core"},
        ),
    )
    assert service.display_name == "client-web", service
    assert service.parameters == {
        "GREETING": "hi",
        "HERE": PROJECT,
        "SELF": f"http://{service.id}:8080",
    }, service.parameters
    # The runtime's own id, as contaxy answers it: a Docker container id.
    assert service.internal_id != service.id, service.internal_id
    assert len(service.internal_id) == 64, service.internal_id
    int(service.internal_id, 16)
    # The platform's labels are returned in metadata, as contaxy returns them.
    assert service.metadata["team"] == "core", service.metadata
    assert service.metadata["ctxy.projectName"] == PROJECT, service.metadata
    assert service.metadata["ctxy.deploymentId"] == service.id, service.metadata
    assert service.compute.max_memory == 100, service.compute
    # Synchronous: the deploy answers once the service runs.
    assert service.status == "running", service.status
    state["service"] = service.id


def get_service():
    service = deployments.get_service_metadata(PROJECT, state["service"])
    assert service.status == "running", service.status
    assert service.container_image == IMAGE and service.endpoints == ["8080"], service


def list_services():
    ids = [s.id for s in deployments.list_services(PROJECT)]
    assert state["service"] in ids, ids


def update_service():
    # The id comes from the display name: a new one is refused (400).
    try:
        deployments.update_service(PROJECT, state["service"], ServiceUpdate(display_name="renamed"))
    except Exception as error:  # noqa: BLE001 -- the 400 is the point
        assert getattr(error, "status_code", None) == 400, error
    else:
        fail("display_name change")
    service = deployments.update_service(
        PROJECT, state["service"], ServiceUpdate(description="updated")
    )
    assert service.description == "updated", service
    # Synchronous: answered once the service runs from its new input.
    assert service.status == "running", service.status
    assert deployments.get_service_metadata(PROJECT, state["service"]).description == "updated"


def service_logs():
    def logged():
        logs = deployments.get_service_logs(PROJECT, state["service"], lines=10, since=None)
        return logs if "hello-from-service" in logs else None

    logs = eventually("the service's output", logged)
    assert isinstance(logs, str), logs


def service_logs_since():
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    logs = deployments.get_service_logs(PROJECT, state["service"], lines=None, since=since)
    assert "hello-from-service" in logs, logs


def service_actions():
    ids = [a.action_id for a in deployments.list_service_actions(PROJECT, state["service"])]
    assert ids == ["stop", "restart", "access-8080"], ids


def execute_service_action():
    # Each answers once done, as contaxy's: the status right after says so.
    service = state["service"]
    deployments.execute_service_action(PROJECT, service, "stop")
    assert deployments.get_service_metadata(PROJECT, service).status == "stopped"
    ids = [a.action_id for a in deployments.list_service_actions(PROJECT, service)]
    assert ids == ["start"], ids
    deployments.execute_service_action(PROJECT, service, "start")
    assert deployments.get_service_metadata(PROJECT, service).status == "running"
    deployments.execute_service_action(PROJECT, service, "restart")
    assert deployments.get_service_metadata(PROJECT, service).status == "running"


def update_service_access():
    # No idle_timeout: reads do not count as accesses; the call does.
    assert deployments.get_service_metadata(PROJECT, state["service"]).last_access_time is None
    deployments.update_service_access(PROJECT, state["service"])
    accessed = deployments.get_service_metadata(PROJECT, state["service"]).last_access_time
    assert accessed and accessed > datetime.now(timezone.utc) - timedelta(minutes=1), accessed


def delete_service():
    deployments.delete_service(PROJECT, state["service"], delete_volumes=False)
    # Gone at once, from the list and from reads.
    assert state["service"] not in [s.id for s in deployments.list_services(PROJECT)]
    try:
        deployments.get_service_metadata(PROJECT, state["service"])
    except Exception as error:  # noqa: BLE001 -- the 404 is the point
        assert getattr(error, "status_code", None) == 404, error
    else:
        fail("service after its deletion")
    # The same name again: a new service under the same id.
    again = deployments.deploy_service(
        PROJECT,
        ServiceInput(
            container_image=IMAGE,
            display_name="client-web",
            command=["sh", "-c", IDLE],
            idle_timeout=timedelta(hours=2.5),  # sent as 9000.0
        ),
    )
    assert again.id == state["service"] and again.status == "running", again
    assert again.endpoints == [], again
    assert again.idle_timeout == timedelta(seconds=9000), again.idle_timeout


def delete_services():
    deployments.delete_services(PROJECT)
    assert deployments.list_services(PROJECT) == []


call("DeploymentClient.deploy_service", deploy_service)
if "service" in state:
    call("DeploymentClient.get_service_metadata", get_service)
    call("DeploymentClient.list_services", list_services)
    call("DeploymentClient.get_service_logs", service_logs)
    call("DeploymentClient.get_service_logs(since)", service_logs_since)
    call("DeploymentClient.list_service_actions", service_actions)
    call("DeploymentClient.update_service", update_service)
    call("DeploymentClient.execute_service_action", execute_service_action)
    call("DeploymentClient.update_service_access", update_service_access)
    # contaxy's HTTP proxy to a service's endpoint: this server runs none
    # (the service is reached inside its project network): not served.
    call(
        "DeploymentClient.access_service",
        lambda: deployments.access_service(PROJECT, state["service"], "8080"),
    )
    call("DeploymentClient.delete_service", delete_service)
def deploy_service_actions():
    actions = deployments.list_deploy_service_actions(
        PROJECT, ServiceInput(container_image=IMAGE)
    )
    assert [a.action_id for a in actions] == ["default"], actions


call("DeploymentClient.list_deploy_service_actions", deploy_service_actions)
def suggest_service_config():
    # Read from the image by a worker: the test image sets only PATH and CMD.
    suggested = deployments.suggest_service_config(PROJECT, IMAGE)
    assert suggested.container_image == IMAGE, suggested
    assert suggested.display_name == "busybox", suggested
    assert suggested.parameters == {} and suggested.endpoints == [], suggested


call("DeploymentClient.suggest_service_config", suggest_service_config)
call("DeploymentClient.delete_services", delete_services)

# --- DeploymentClient: jobs ------------------------------------------------


def deploy_job():
    job = deployments.deploy_job(
        PROJECT,
        JobInput(
            container_image=IMAGE,
            display_name="client-job",
            command=["sh", "-c", "echo hello-from-job"],
            compute=DeploymentCompute(max_memory=100),
        ),
    )
    assert job.display_name == "client-job", job
    # Synchronous: answered once the job started (or already ended).
    assert job.status in ("running", "succeeded"), job.status
    state["job"] = job.id


def get_job():
    def finished():
        job = deployments.get_job_metadata(PROJECT, state["job"])
        return job if job.status == "succeeded" else None

    job = eventually("the job to succeed", finished)
    assert job.container_image == IMAGE, job


def list_jobs():
    ids = [j.id for j in deployments.list_jobs(PROJECT)]
    assert state["job"] in ids, ids


def job_logs():
    logs = deployments.get_job_logs(PROJECT, state["job"])
    assert "hello-from-job" in logs, logs


def delete_job():
    deployments.delete_job(PROJECT, state["job"])
    assert state["job"] not in [j.id for j in deployments.list_jobs(PROJECT)]


def delete_jobs():
    deployments.deploy_job(
        PROJECT, JobInput(container_image=IMAGE, command=["true"], display_name="old-job")
    )
    now = datetime.now(timezone.utc)
    # Calendar days, both ends included (contaxy's): tomorrow keeps it.
    tomorrow = now + timedelta(days=1)
    deployments.delete_jobs(PROJECT, date_from=tomorrow, date_to=tomorrow)
    assert [j.display_name for j in deployments.list_jobs(PROJECT)] == ["old-job"]
    # Today to today takes it, whatever the time of day.
    deployments.delete_jobs(PROJECT, date_from=now, date_to=now)
    assert deployments.list_jobs(PROJECT) == []


call("DeploymentClient.deploy_job", deploy_job)
if "job" in state:
    call("DeploymentClient.get_job_metadata", get_job)
    call("DeploymentClient.list_jobs", list_jobs)
    call("DeploymentClient.get_job_logs", job_logs)
    call(
        "DeploymentClient.list_job_actions",
        lambda: deployments.list_job_actions(PROJECT, state["job"]) == [] or fail("actions"),
    )
    call("DeploymentClient.delete_job", delete_job)
def deploy_job_actions():
    actions = deployments.list_deploy_job_actions(PROJECT, JobInput(container_image=IMAGE))
    assert [a.action_id for a in actions] == ["default"], actions


call("DeploymentClient.list_deploy_job_actions", deploy_job_actions)
def suggest_job_config():
    suggested = deployments.suggest_job_config(PROJECT, IMAGE)
    assert suggested.container_image == IMAGE and suggested.display_name == "busybox", suggested


call("DeploymentClient.suggest_job_config", suggest_job_config)
def execute_job_action():
    job = deployments.deploy_job(
        PROJECT,
        JobInput(container_image=IMAGE, display_name="cancelled-job", command=["sh", "-c", IDLE]),
    )
    offered = [a.action_id for a in deployments.list_job_actions(PROJECT, job.id)]
    assert offered == ["cancel"], offered
    deployments.execute_job_action(PROJECT, job.id, "cancel")

    def cancelled():
        # `stopped`: contaxy's enum has no `cancelled` (the server runs
        # with CONTAXY_API_CONTAXY_STATUSES), and the listing parses.
        found = deployments.get_job_metadata(PROJECT, job.id)
        listed = [j.status for j in deployments.list_jobs(PROJECT) if j.id == job.id]
        return found if found.status == "stopped" and listed == ["stopped"] else None

    eventually("the job to be cancelled", cancelled)
    # Ended: nothing more to offer.
    assert deployments.list_job_actions(PROJECT, job.id) == []
    deployments.delete_job(PROJECT, job.id)


call("DeploymentClient.execute_job_action", execute_job_action)
call("DeploymentClient.delete_jobs", delete_jobs)

# --- FileClient ------------------------------------------------------------

FILE_KEY = "drive/numbers.csv"
FILE_DATA = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(20000))


def upload_file():
    uploaded = files.upload_file(
        PROJECT,
        FILE_KEY,
        io.BytesIO(FILE_DATA),
        metadata={"origin": "drive"},
        content_type="text/csv",
    )
    assert uploaded.key == FILE_KEY, uploaded
    assert uploaded.file_size == len(FILE_DATA), uploaded
    assert uploaded.md5_hash == hashlib.md5(FILE_DATA).hexdigest(), uploaded
    assert uploaded.content_type == "text/csv", uploaded
    assert uploaded.metadata == {"origin": "drive"}, uploaded
    assert uploaded.latest_version, uploaded


def list_files():
    listed = files.list_files(PROJECT, prefix="drive/")
    assert [f.key for f in listed] == [FILE_KEY], listed


def get_file_metadata():
    found = files.get_file_metadata(PROJECT, FILE_KEY)
    assert found.file_size == len(FILE_DATA) and found.metadata == {"origin": "drive"}, found


def update_file_metadata():
    updated = files.update_file_metadata(
        FileInput(description="from the client", metadata={"run": "1"}), PROJECT, FILE_KEY
    )
    assert updated.description == "from the client", updated
    assert updated.metadata == {"origin": "drive", "run": "1"}, updated


def download_file():
    chunks, length = files.download_file(PROJECT, FILE_KEY)
    assert length == len(FILE_DATA), length
    assert b"".join(chunks) == FILE_DATA


def delete_file():
    files.delete_file(PROJECT, FILE_KEY)
    try:
        files.get_file_metadata(PROJECT, FILE_KEY)
    except Exception as error:  # noqa: BLE001 -- the 404 is the point
        assert getattr(error, "status_code", None) == 404, error
    else:
        fail("file after its deletion")


def delete_files():
    files.upload_file(PROJECT, "drive/old.txt", io.BytesIO(b"old"))
    now = datetime.now(timezone.utc)
    files.delete_files(PROJECT, date_from=now - timedelta(days=1), date_to=now + timedelta(days=1))
    eventually("no files", lambda: files.list_files(PROJECT, prefix="drive/") == [])


call("FileClient.upload_file", upload_file)
call("FileClient.list_files", list_files)
call("FileClient.get_file_metadata", get_file_metadata)
call("FileClient.update_file_metadata", update_file_metadata)
call("FileClient.download_file", download_file)
call("FileClient.delete_file", delete_file)
call("FileClient.delete_files", delete_files)

# --- last: the project made above ------------------------------------------


def delete_project():
    projects.delete_project(NEW_PROJECT)
    eventually(
        "the project to be gone",
        lambda: NEW_PROJECT not in [p.id for p in projects.list_projects()],
    )


call("ProjectClient.delete_project", delete_project)

worked = sum(1 for _, ok in results if ok)
print(f"summary {worked} of {len(results)} calls work", flush=True)
sys.exit(0)
