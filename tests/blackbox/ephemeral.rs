//! The ephemeral store's contract, run against memory and (when configured) Redis.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use keystep_tests::TestStore;

/// Lets `ttl` pass: the memory store's clock moves; Redis needs real time.
fn let_pass(store: &TestStore, ttl: Duration) {
    match &store.clock {
        Some(clock) => clock.advance(ttl + Duration::from_millis(1)),
        None => std::thread::sleep(ttl + Duration::from_millis(100)),
    }
}

#[test]
fn put_get_delete() {
    for s in TestStore::all() {
        let store = &s.store;
        assert_eq!(store.get("k").unwrap(), None, "{}", s.backend);
        store.put("k", b"one", Duration::from_secs(60)).unwrap();
        assert_eq!(
            store.get("k").unwrap().as_deref(),
            Some(&b"one"[..]),
            "{}",
            s.backend
        );
        assert_eq!(
            store.get("k").unwrap().as_deref(),
            Some(&b"one"[..]),
            "{}: get does not consume",
            s.backend
        );
        store.put("k", b"two", Duration::from_secs(60)).unwrap();
        assert_eq!(
            store.get("k").unwrap().as_deref(),
            Some(&b"two"[..]),
            "{}: put replaces",
            s.backend
        );
        store.delete("k").unwrap();
        assert_eq!(store.get("k").unwrap(), None, "{}", s.backend);
        store.delete("k").unwrap();
        store.ping().unwrap();
    }
}

#[test]
fn any_live_is_true_when_one_of_the_keys_holds_a_live_value() {
    for s in TestStore::all() {
        let store = &s.store;
        let name = s.backend;
        assert!(!store.any_live(&[]).unwrap(), "{name}: none asked");
        assert!(!store.any_live(&["m1", "m2", "m3"]).unwrap(), "{name}");
        store.put("m3", b"1", Duration::from_secs(60)).unwrap();
        assert!(store.any_live(&["m1", "m2", "m3"]).unwrap(), "{name}");
        assert!(!store.any_live(&["m1", "m2"]).unwrap(), "{name}");
        store.put("m1", b"1", Duration::from_millis(200)).unwrap();
        let_pass(&s, Duration::from_millis(200));
        assert!(!store.any_live(&["m1"]).unwrap(), "{name}: expired");
        store.delete("m3").unwrap();
        assert!(!store.any_live(&["m3"]).unwrap(), "{name}: deleted");
    }
}

#[test]
fn values_expire() {
    for s in TestStore::all() {
        let store = &s.store;
        let ttl = Duration::from_millis(200);
        store.put("short", b"v", ttl).unwrap();
        store.put("long", b"v", Duration::from_secs(60)).unwrap();
        let left = store.ttl("long").unwrap().unwrap();
        assert!(
            left <= Duration::from_secs(60) && left > Duration::from_secs(50),
            "{}: {left:?}",
            s.backend
        );
        assert_eq!(store.ttl("absent").unwrap(), None, "{}", s.backend);
        store.incr("count", ttl).unwrap();
        assert!(store.get("short").unwrap().is_some(), "{}", s.backend);
        let_pass(&s, ttl);
        assert_eq!(store.get("short").unwrap(), None, "{}: expired", s.backend);
        assert_eq!(store.ttl("short").unwrap(), None, "{}", s.backend);
        assert_eq!(
            store.take("short").unwrap(),
            None,
            "{}: expired values cannot be taken",
            s.backend
        );
        assert!(store.get("long").unwrap().is_some(), "{}", s.backend);
        assert_eq!(
            store.incr("count", ttl).unwrap(),
            1,
            "{}: counter window restarted",
            s.backend
        );
        assert!(
            store.put_if_absent("short", b"new", ttl).unwrap(),
            "{}: expired key is absent",
            s.backend
        );
    }
}

#[test]
fn take_is_single_use() {
    for s in TestStore::all() {
        let store = &s.store;
        store.put("code", b"abc", Duration::from_secs(60)).unwrap();
        assert_eq!(
            store.take("code").unwrap().as_deref(),
            Some(&b"abc"[..]),
            "{}",
            s.backend
        );
        assert_eq!(store.take("code").unwrap(), None, "{}", s.backend);
        assert_eq!(store.get("code").unwrap(), None, "{}", s.backend);
    }
}

#[test]
fn of_fifty_concurrent_takes_exactly_one_wins() {
    for s in TestStore::all() {
        for round in 0..5 {
            let key = format!("race-{round}");
            s.store
                .put(&key, b"prize", Duration::from_secs(60))
                .unwrap();
            let barrier = Arc::new(Barrier::new(50));
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    let store = s.store.clone();
                    let barrier = barrier.clone();
                    let key = key.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        store.take(&key).unwrap()
                    })
                })
                .collect();
            let winners = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(Option::is_some)
                .count();
            assert_eq!(winners, 1, "{} round {round}", s.backend);
        }
    }
}

#[test]
fn put_if_absent_is_atomic() {
    for s in TestStore::all() {
        let store = &s.store;
        assert!(
            store
                .put_if_absent("once", b"first", Duration::from_secs(60))
                .unwrap(),
            "{}",
            s.backend
        );
        assert!(
            !store
                .put_if_absent("once", b"second", Duration::from_secs(60))
                .unwrap(),
            "{}",
            s.backend
        );
        assert_eq!(
            store.get("once").unwrap().as_deref(),
            Some(&b"first"[..]),
            "{}",
            s.backend
        );

        let barrier = Arc::new(Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let store = s.store.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .put_if_absent(
                            "contested",
                            format!("{i}").as_bytes(),
                            Duration::from_secs(60),
                        )
                        .unwrap()
                })
            })
            .collect();
        let stored = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(stored, 1, "{}", s.backend);
    }
}

#[test]
fn incr_counts_within_a_fixed_window() {
    for s in TestStore::all() {
        let store = &s.store;
        let window = Duration::from_millis(300);
        assert_eq!(store.incr("attempts", window).unwrap(), 1, "{}", s.backend);
        assert_eq!(store.incr("attempts", window).unwrap(), 2, "{}", s.backend);
        assert_eq!(
            store.incr("attempts", Duration::from_secs(3600)).unwrap(),
            3,
            "{}",
            s.backend
        );
        assert_eq!(
            store.get("attempts").unwrap().as_deref(),
            Some(&b"3"[..]),
            "{}",
            s.backend
        );
        // The window started at the first increment; later ones do not extend it.
        let_pass(&s, window);
        assert_eq!(store.incr("attempts", window).unwrap(), 1, "{}", s.backend);

        let handles: Vec<_> = (0..20)
            .map(|_| {
                let store = s.store.clone();
                std::thread::spawn(move || store.incr("parallel", Duration::from_secs(60)).unwrap())
            })
            .collect();
        let mut counts: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        counts.sort_unstable();
        assert_eq!(
            counts,
            (1..=20).collect::<Vec<_>>(),
            "{}: no lost updates",
            s.backend
        );
    }
}
