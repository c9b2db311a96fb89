//! Leader election against the in-memory API server: one holder at a time, renewal,
//! and take-over only after the lease expires.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_fake_api::FakeApi;
use spin_operator::leader::LeaderElector;

fn elector(api: &FakeApi, who: &str, secs: u64) -> LeaderElector {
    let leases: Api<Lease> = Api::namespaced(api.client(), "spin-system");
    LeaderElector::new(
        leases,
        "spin-operator-leader",
        who,
        Duration::from_secs(secs),
    )
}

#[tokio::test]
async fn only_one_replica_leads_until_the_lease_expires() {
    let api = FakeApi::default();
    let a = elector(&api, "replica-a", 1);
    let b = elector(&api, "replica-b", 1);

    assert!(
        a.try_acquire_or_renew().await.unwrap(),
        "the first replica takes the free lease"
    );
    assert!(
        !b.try_acquire_or_renew().await.unwrap(),
        "the second must wait"
    );
    assert!(a.try_acquire_or_renew().await.unwrap(), "the holder renews");
    assert!(!b.try_acquire_or_renew().await.unwrap());

    // a stops renewing (crashed); once the lease has expired b takes over, and a,
    // coming back, no longer holds it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        b.try_acquire_or_renew().await.unwrap(),
        "an expired lease is taken over"
    );
    assert!(!a.try_acquire_or_renew().await.unwrap());

    let lease = api
        .get("/apis/coordination.k8s.io/v1/namespaces/spin-system/leases/spin-operator-leader")
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

#[tokio::test]
async fn racing_replicas_cannot_both_win() {
    let api = FakeApi::default();
    let electors: Vec<_> = (0..8)
        .map(|i| elector(&api, &format!("replica-{i}"), 30))
        .collect();
    let results =
        futures::future::join_all(electors.iter().map(|e| e.try_acquire_or_renew())).await;
    let winners = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(winners, 1);
}
