//! The run with several batches in flight (`--webhook-concurrency`): completions out of order,
//! refusals and failures with later batches pending, a signal, `--limit`.
//!
//! Every test runs on tokio's paused clock: the sink's delays and a signal's timer are ordered
//! in virtual time, so a loaded machine cannot reorder them.

use super::*;

/// The positions of every save, in order.
fn saved_positions(setup: &Setup) -> Vec<Position> {
    setup
        .store
        .saves()
        .iter()
        .map(|s| s.position.unwrap())
        .collect()
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[tokio::test(start_paused = true)]
async fn batches_completing_out_of_order_are_acknowledged_in_batch_order() {
    let all = rows(12);
    // Four batches in flight at once; the last started completes first, the first last.
    let sink = MemoryTarget::answering(Answer::Durable)
        .in_flight(4)
        .delays(&[ms(150), ms(50), ms(100), ms(0)]);
    let setup = Setup::new(all.clone(), sink);
    assert_eq!(setup.run().await.unwrap().rows, 12);
    assert_eq!(
        setup.sink.peak_pending(),
        4,
        "all four were in flight at once"
    );
    let mut completed = setup.delivered();
    assert_ne!(completed, notes(1..=12), "they completed out of order");
    completed.sort_by_key(|n| n[4..].parse::<u32>().unwrap());
    assert_eq!(completed, notes(1..=12), "each row once");
    // The cursor moved batch by batch, in order, never past one not yet acknowledged.
    let expected: Vec<_> = [2, 5, 8, 11, 11]
        .iter()
        .map(|i| position_of(&all[*i]))
        .collect();
    assert_eq!(saved_positions(&setup), expected);
    assert_eq!(setup.stored().total_rows, 12);
}

#[tokio::test(start_paused = true)]
async fn the_window_never_holds_more_batches_than_the_sink_allows() {
    for in_flight in [1, 2, 3] {
        let delays: Vec<_> = (0..10).map(|i| ms(5 + (i * 7) % 13)).collect();
        let sink = MemoryTarget::answering(Answer::Durable)
            .in_flight(in_flight)
            .delays(&delays);
        let setup = Setup::new(rows(30), sink);
        assert_eq!(setup.run().await.unwrap().rows, 30);
        assert_eq!(setup.sink.peak_pending(), in_flight);
        assert_eq!(setup.sink.started(), 10);
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_batch_with_later_ones_in_flight_leaves_the_cursor_before_it() {
    let all = rows(15);
    // Batch 2 is refused while batches 3 and 4 are still in flight (they take longer).
    let sink = MemoryTarget::scripted(&[Answer::Durable, Answer::Fail], Answer::Durable)
        .in_flight(3)
        .delays(&[ms(0), ms(100), ms(300), ms(300)]);
    let setup = Setup::new(all.clone(), sink);
    let error = setup.run().await.unwrap_err();
    assert_eq!(error.exit_code(), exit::RUNTIME, "{error}");
    assert!(error.message().contains("refused"), "{error}");
    // Batch 1 done, batch 4 started when it completed; nothing after the refusal.
    assert_eq!(setup.sink.started(), 4, "no new batch after the refusal");
    assert_eq!(
        setup.sink.pending(),
        0,
        "the batches in flight were awaited"
    );
    let mut delivered = setup.delivered();
    delivered.sort_by_key(|n| n[4..].parse::<u32>().unwrap());
    assert_eq!(delivered, [notes(1..=3), notes(7..=12)].concat());
    // The cursor holds batch 1 only: batches 3 and 4 were delivered but follow the refused one.
    let stored = setup.stored();
    assert_eq!(stored.position, Some(position_of(&all[2])));
    assert_eq!(stored.total_rows, 3);
    assert_eq!(saved_positions(&setup), [position_of(&all[2])]);
    // The next run resends from the refused batch on (3 and 4 again: at most the window).
    let retry = Setup {
        sink: MemoryTarget::answering(Answer::Durable).in_flight(3),
        ..setup
    };
    assert_eq!(retry.run().await.unwrap().rows, 12);
    assert_eq!(retry.stored().position, Some(position_of(&all[14])));
}

#[tokio::test(start_paused = true)]
async fn a_failure_of_the_first_batch_in_flight_counts_none_of_those_after_it() {
    let all = rows(12);
    // Batch 1 fails last, after batches 2 to 4 were acknowledged by the sink.
    let sink = MemoryTarget::scripted(&[Answer::Fail], Answer::Durable)
        .in_flight(4)
        .delays(&[ms(60), ms(0), ms(0), ms(0)]);
    let setup = Setup::new(all, sink);
    assert!(setup.run().await.is_err());
    assert_eq!(setup.sink.started(), 4);
    assert_eq!(setup.delivered(), notes(4..=12));
    assert_eq!(setup.store.stored(), None, "the cursor never moved");
}

#[tokio::test(start_paused = true)]
async fn limit_stays_exact_with_batches_in_flight() {
    let all = rows(20);
    let delays: Vec<_> = (0..20).map(|i| ms((i * 11) % 17)).collect();
    let mut setup = Setup::new(
        all.clone(),
        MemoryTarget::answering(Answer::Durable)
            .in_flight(4)
            .delays(&delays),
    );
    setup.limit = Some(10);
    assert_eq!(setup.run().await.unwrap().rows, 10);
    assert_eq!(setup.stored().position, Some(position_of(&all[9])));
    assert_eq!(setup.sink.started(), 4, "3 + 3 + 3 + 1 rows");
    assert_eq!(setup.run().await.unwrap().rows, 10);
    assert_eq!(setup.run().await.unwrap().rows, 0);
    let mut delivered = setup.delivered();
    delivered.sort_by_key(|n| n[4..].parse::<u32>().unwrap());
    assert_eq!(delivered, notes(1..=20));
    assert_eq!(setup.stored().total_rows, 20);
}

#[tokio::test(start_paused = true)]
async fn a_source_failing_with_batches_in_flight_keeps_those_acknowledged_before() {
    let all = rows(12);
    let setup = Setup::new(
        all.clone(),
        MemoryTarget::answering(Answer::Durable)
            .in_flight(4)
            .delays(&[ms(30), ms(30)]),
    );
    setup.source.fail_after(Some(7));
    let error = setup.run().await.unwrap_err();
    assert!(error.message().contains("failed after 7 rows"), "{error}");
    assert_eq!(
        setup.sink.pending(),
        0,
        "the batches in flight were awaited"
    );
    assert_eq!(setup.stored().position, Some(position_of(&all[5])));
}

#[tokio::test(start_paused = true)]
async fn a_signal_takes_no_new_batch_and_lets_the_ones_in_flight_finish() {
    let all = rows(30);
    let (interrupt, signal) = Interrupt::manual();
    let mut setup = Setup::new(
        all.clone(),
        MemoryTarget::answering(Answer::Durable)
            .in_flight(3)
            .delays(&[ms(40); 10]),
    );
    setup.interrupt = interrupt;
    let stop = tokio::spawn(async move {
        tokio::time::sleep(ms(60)).await;
        signal.send(Some(crate::error::Signal::Term)).unwrap();
        signal
    });
    let error = setup.run().await.unwrap_err();
    let _signal = stop.await.unwrap();
    assert!(matches!(error, Error::Interrupted { .. }), "{error}");
    let started = setup.sink.started();
    assert!(
        started < 10,
        "the run stopped taking batches ({started} started)"
    );
    assert_eq!(setup.sink.pending(), 0, "the batches in flight finished");
    // Every batch started was acknowledged, and the cursor holds them all, in order.
    let stored = setup.stored();
    assert_eq!(stored.total_rows, 3 * started as u64);
    assert_eq!(stored.position, Some(position_of(&all[3 * started - 1])));
    assert_eq!(setup.delivered(), notes(1..=3 * started as u32));
}
