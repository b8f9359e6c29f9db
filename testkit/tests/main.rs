//! The helpers the other crates rely on actually start real servers.

use testkit::{MotoServer, Postgres};

#[test]
fn moto_round_trip() {
    let s3 = MotoServer::start();
    s3.create_bucket("smoke", false);
    let out = s3.python(
        "s3.put_object(Bucket='smoke', Key='a/b.txt', Body=b'hi')\n\
         print(s3.get_object(Bucket='smoke', Key='a/b.txt')['Body'].read().decode())",
    );
    assert_eq!(out.trim(), "hi");
}

#[test]
fn postgres_round_trip() {
    let pg = Postgres::start();
    pg.psql("create table t (id bigint, v numeric(18,6)); insert into t values (1, -0.000001)");
    assert_eq!(pg.psql("select v from t").trim(), "-0.000001");
}
