//! Fresh databases: one per test, dropped when the test ends, and the rows
//! store tests start from.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};

use contaxy_common::store::MIGRATOR;

/// Where the tests reach PostgreSQL as a role allowed to create databases.
pub fn admin_database_url() -> String {
    std::env::var("CONTAXY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://contaxy:contaxy@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database for one test; dropped (with force) on drop.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates `contaxy_test_<random>`.
    pub async fn new() -> Self {
        let admin = admin_database_url();
        let name = format!("contaxy_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL at {admin} ({e}); run scripts/provision.sh")
        });
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .expect("create the test database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("CONTAXY_TEST_DATABASE_URL must end in /<database>"),
        };
        Self { name, url }
    }

    /// A fresh database with the migrations applied and `project` recorded,
    /// and a pool on it: where the store tests start.
    pub async fn with_project(project: &str) -> (Self, PgPool) {
        let db = Self::new().await;
        let pool = db.migrated_pool(10).await;
        insert_project(&pool, project).await;
        (db, pool)
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A plain connection to it, for assertions.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// A pool of at most `max_connections` on it, with the migrations
    /// applied.
    pub async fn migrated_pool(&self, max_connections: u32) -> PgPool {
        migrated_pool(&self.url, max_connections).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee; use a small one of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_database_url()).await?;
                conn.execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// A pool of at most `max_connections` on the database at `url`, with the
/// migrations applied.
pub async fn migrated_pool(url: &str, max_connections: u32) -> PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url)
        .await
        .expect("connect to the test database");
    MIGRATOR.run(&pool).await.expect("apply the migrations");
    pool
}

/// Records a project directly (as the API would have), named `Project {id}`.
pub async fn insert_project(pool: &PgPool, id: &str) {
    sqlx::query("INSERT INTO projects (id, display_name) VALUES ($1, $2)")
        .bind(id)
        .bind(format!("Project {id}"))
        .execute(pool)
        .await
        .expect("insert a project");
}

/// Records a deployment of `project` directly (as the API would have):
/// `deployment_type` is `service` or `job`, `status` its recorded status.
/// Its display name is its id and its spec names image `x`.
pub async fn insert_deployment(
    pool: &PgPool,
    project: &str,
    id: &str,
    deployment_type: &str,
    status: &str,
) {
    sqlx::query(
        "INSERT INTO deployments (id, project_id, deployment_type, display_name, spec, status)
         VALUES ($1, $2, $3, $1, '{\"container_image\": \"x\"}', $4)",
    )
    .bind(id)
    .bind(project)
    .bind(deployment_type)
    .bind(status)
    .execute(pool)
    .await
    .expect("insert a deployment");
}
