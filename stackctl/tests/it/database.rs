//! The stack's database image on the real engine, run as `compose.yaml`
//! declares it (host network, read-only root, no capabilities, non-root):
//! the API account works and is limited to `shop`, nothing logs in without a
//! password, it listens on loopback only, and its data outlives containers.

use mysql_async::prelude::Queryable as _;
use stackctl::testbed::Database as TestDb;

const ACCESS_DENIED: u16 = 1045;

async fn connect(
    db: &TestDb,
    user: &str,
    password: Option<&str>,
) -> Result<mysql_async::Conn, mysql_async::Error> {
    mysql_async::Conn::new(mysql_async::Opts::from_url(&db.url(user, password)).unwrap()).await
}

fn server_code(result: Result<mysql_async::Conn, mysql_async::Error>) -> Option<u16> {
    match result {
        Err(mysql_async::Error::Server(err)) => Some(err.code),
        Err(other) => panic!("expected a refusal by the server, got: {other}"),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_account_logs_in_with_its_password_and_reaches_only_shop() {
    let db = TestDb::start("api-account").await.unwrap();
    let mut conn = connect(&db, "shop_api", Some(&db.password))
        .await
        .expect("the API account logs in");
    let (user, database): (String, String) = conn
        .query_first("SELECT CURRENT_USER(), DATABASE()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.as_str(), database.as_str()),
        ("shop_api@127.0.0.1", "shop")
    );

    conn.query_drop("CREATE TABLE probe (id INT PRIMARY KEY)")
        .await
        .expect("the API may create its tables");
    let grants: Vec<String> = conn.query("SHOW GRANTS").await.unwrap();
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(grants[0].starts_with("GRANT USAGE ON *.*"), "{grants:?}");
    assert!(grants[1].contains("ON `shop`.*"), "{grants:?}");
    for forbidden in ["ALL PRIVILEGES", "DROP", "GRANT OPTION", "SUPER", "FILE"] {
        assert!(
            !grants.iter().any(|g| g.contains(forbidden)),
            "{forbidden} in {grants:?}"
        );
    }
    let err = conn
        .query_drop("CREATE DATABASE elsewhere")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("denied"), "{err}");
    conn.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_account_logs_in_over_tcp_without_a_password() {
    let db = TestDb::start("no-password").await.unwrap();
    for user in ["shop_api", "root", "mysql", "healthcheck", ""] {
        assert_eq!(
            server_code(connect(&db, user, None).await),
            Some(ACCESS_DENIED),
            "user `{user}`"
        );
    }
    assert_eq!(
        server_code(connect(&db, "shop_api", Some("wrong")).await),
        Some(ACCESS_DENIED),
        "a wrong password is refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_listens_on_loopback_only() {
    let db = TestDb::start("loopback").await.unwrap();
    let listeners = listening_addresses(db.port);
    assert_eq!(
        listeners,
        ["127.0.0.1".to_owned()],
        "port {} listens on {listeners:?}",
        db.port
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart_and_a_new_container_on_the_same_volume() {
    let mut db = TestDb::start("persistence").await.unwrap();
    let mut conn = connect(&db, "shop_api", Some(&db.password)).await.unwrap();
    conn.query_drop("CREATE TABLE kept (note VARCHAR(40))")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO kept VALUES ('written before the restart')")
        .await
        .unwrap();
    conn.disconnect().await.unwrap();

    db.restart().await.unwrap();
    let mut conn = connect(&db, "shop_api", Some(&db.password)).await.unwrap();
    let note: Option<String> = conn.query_first("SELECT note FROM kept").await.unwrap();
    assert_eq!(note.as_deref(), Some("written before the restart"));
    conn.disconnect().await.unwrap();

    db.recreate().await.unwrap();
    let mut conn = connect(&db, "shop_api", Some(&db.password)).await.unwrap();
    let note: Option<String> = conn.query_first("SELECT note FROM kept").await.unwrap();
    assert_eq!(
        note.as_deref(),
        Some("written before the restart"),
        "the named volume kept the data"
    );
    conn.disconnect().await.unwrap();
}

/// The addresses with a listening TCP socket on `port` in the host network
/// namespace (which the container shares).
fn listening_addresses(port: u16) -> Vec<String> {
    stackctl::listeners::listening()
        .into_iter()
        .filter(|l| l.addr.port() == port)
        .map(|l| l.addr.ip().to_string())
        .collect()
}
