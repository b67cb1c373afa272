//! The interpreter's laws: a journal replays to the same execution, an
//! execution cut at any stored point and resumed ends the same way, and
//! the timing, concurrency and failure rules of each state hold.

use super::simulate::{Simulation, resume, simulate};
use super::*;
use crate::definition::Definition;
use serde_json::json;
use std::collections::HashMap;

pub(super) fn info(input: Value) -> ExecutionInfo {
    ExecutionInfo {
        id: "mrn:workflows:acme:shop:execution/orders/e1".into(),
        name: "e1".into(),
        input,
        start_time: "2026-12-03T12:00:00.000Z".into(),
        role: None,
        workflow_id: "mrn:workflows:acme:shop:workflow/orders".into(),
        workflow_name: "orders".into(),
    }
}

pub(super) fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
        .expect("a timestamp")
        .to_utc()
}

fn definition(value: Value) -> Definition {
    match Definition::parse(&value) {
        Ok(d) => d,
        Err(problems) => panic!("invalid definition: {problems:?}"),
    }
}

type Answer<'a> = dyn FnMut(&Invocation) -> Option<Result<Value, Failure>> + 'a;

fn run(value: Value, input: Value, answer: &mut Answer<'_>) -> Simulation {
    simulate(&definition(value), info(input), start(), answer)
}

/// Runs the machine `{StartAt: start_at, States: states}` (in `language`,
/// or JSONPath when `None`) whose tasks answer `answer(resource, input)`.
pub(super) fn run_states(
    language: Option<&str>,
    states: Value,
    start_at: &str,
    input: Value,
    answer: fn(&str, &Value) -> Result<Value, Failure>,
) -> Simulation {
    let mut value = json!({"StartAt": start_at, "States": states});
    if let Some(language) = language {
        value["QueryLanguage"] = json!(language);
    }
    run(value, input, &mut |i: &Invocation| {
        Some(answer(&i.resource, &i.input))
    })
}

/// How the execution failed (`none` with no cause when it did not).
pub(super) fn failure_of(s: &Simulation) -> Failure {
    s.execution
        .failure()
        .cloned()
        .unwrap_or_else(|| Failure::new("none", ""))
}

fn history(simulation: &Simulation) -> Vec<String> {
    simulation.journal.iter().map(Event::history_type).collect()
}

/// Tasks answer `{"by": resource, "in": input}`.
fn echo(invocation: &Invocation) -> Option<Result<Value, Failure>> {
    Some(Ok(json!({"by": invocation.resource, "in": invocation.input})))
}

/// A machine with every kind of state: a Map with a Parallel inside, a
/// retried task, a Wait, a Choice.
fn everything() -> Value {
    json!({
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": [1, 2, 3], "ResultPath": "$.items", "Next": "Each"},
            "Each": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                "ItemProcessor": {"StartAt": "Both", "States": {
                    "Both": {"Type": "Parallel", "End": true, "Branches": [
                        {"StartAt": "Flaky", "States": {"Flaky": {
                            "Type": "Task", "Resource": "flaky", "End": true,
                            "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 2, "MaxAttempts": 3}]
                        }}},
                        {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 5, "End": true}}}
                    ]}
                }},
                "ResultPath": "$.results", "Next": "Decide"
            },
            "Decide": {"Type": "Choice", "Choices": [
                {"Variable": "$.results[2][0].in.n", "NumericEquals": 3, "Next": "Done"}
            ], "Default": "Bad"},
            "Bad": {"Type": "Fail", "Error": "Bad"},
            "Done": {"Type": "Succeed"}
        }
    })
}

/// `flaky` fails on its first attempt of each entry.
fn flaky(invocation: &Invocation) -> Option<Result<Value, Failure>> {
    if invocation.task.attempt == 0 {
        Some(Err(Failure::new("Flaky.Error", "first try")))
    } else {
        echo(invocation)
    }
}

#[test]
fn a_journal_replays_to_the_same_execution() {
    let simulation = run(everything(), json!({}), &mut flaky);
    assert_eq!(
        simulation.execution.status(),
        Status::Succeeded,
        "{:?}",
        history(&simulation)
    );
    let mut replayed = Execution::new(info(json!({})));
    for event in &simulation.journal {
        replayed.apply(event);
    }
    assert_eq!(replayed, simulation.execution);
    // Through the journal's stored form too.
    let stored = serde_json::to_string(&simulation.journal).expect("serializes");
    let read: Vec<Event> = serde_json::from_str(&stored).expect("deserializes");
    assert_eq!(read, simulation.journal);
}

#[test]
fn an_execution_cut_at_any_stored_point_resumes_to_the_same_end() {
    let whole = run(everything(), json!({}), &mut flaky);
    let definition = definition(everything());
    for &cut in &whole.batches {
        let mut execution = Execution::new(info(json!({})));
        for event in &whole.journal[..cut] {
            execution.apply(event);
        }
        let at = whole.journal[..cut].last().map_or(start(), Event::at);
        let rest = resume(&definition, execution, at, &mut flaky);
        assert_eq!(
            rest.execution.status(),
            Status::Succeeded,
            "cut after {cut} events: {:?}",
            history(&rest)
        );
        assert_eq!(
            rest.execution.output(),
            whole.execution.output(),
            "cut after {cut}"
        );
        // No task that had ended before the cut runs again.
        let ended_before: Vec<&Event> = whole.journal[..cut]
            .iter()
            .filter(|e| matches!(e, Event::TaskSucceeded { .. }))
            .collect();
        let succeeded_after = rest
            .journal
            .iter()
            .filter(|e| matches!(e, Event::TaskSucceeded { .. }))
            .count();
        let succeeded_total = whole
            .journal
            .iter()
            .filter(|e| matches!(e, Event::TaskSucceeded { .. }))
            .count();
        assert_eq!(
            ended_before.len() + succeeded_after,
            succeeded_total,
            "cut after {cut}"
        );
    }
}

#[test]
fn retries_share_the_entry_and_count_attempts() {
    let mut seen = Vec::new();
    let mut answer = |invocation: &Invocation| {
        seen.push((invocation.task.idempotency_key("e1"), invocation.input.clone()));
        flaky(invocation)
    };
    let simulation = run(
        json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "flaky", "End": true,
            "Parameters": {"retry.$": "$$.State.RetryCount"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 3, "BackoffRate": 2}]
        }}}),
        json!({}),
        &mut answer,
    );
    assert_eq!(simulation.execution.status(), Status::Succeeded);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, seen[1].0, "one idempotency key for every attempt");
    assert_eq!(seen[0].1, json!({"retry": 0}));
    assert_eq!(seen[1].1, json!({"retry": 1}));
    let retry = simulation
        .journal
        .iter()
        .find_map(|e| match e {
            Event::RetryScheduled { until, at, .. } => Some(*until - *at),
            _ => None,
        })
        .expect("a retry");
    assert_eq!(retry, chrono::TimeDelta::seconds(3));
    assert_eq!(
        history(&simulation),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "RetryScheduled",
            "TimerFired",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[test]
fn a_task_that_never_answers_times_out_and_late_answers_change_nothing() {
    let value = json!({"StartAt": "Approve", "States": {
        "Approve": {
            "Type": "Task", "Resource": "ask", "TimeoutSeconds": 60, "End": true,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout", "Next": "Late"}]
        },
        "Late": {"Type": "Pass", "End": true}
    }});
    let mut token = None;
    let simulation = run(value.clone(), json!({"who": "ann"}), &mut |invocation| {
        token.clone_from(&invocation.token);
        None
    });
    assert_eq!(token, None, "a plain task gets no token");
    assert_eq!(simulation.execution.status(), Status::Succeeded);
    assert_eq!(
        simulation.execution.output(),
        Some(
            &json!({"who": "ann", "timeout": {"Error": "States.Timeout", "Cause": "the task did not finish within its TimeoutSeconds"}})
        )
    );
    let timed_out_at = simulation.journal.iter().find_map(|e| match e {
        Event::StateFailed { at, .. } => Some(*at),
        _ => None,
    });
    assert_eq!(timed_out_at, Some(start() + chrono::TimeDelta::seconds(60)));

    // An answer for the attempt that timed out is ignored.
    let mut execution = simulation.execution.clone();
    let late = Signal::TaskSucceeded {
        task: TaskRef {
            frame: String::new(),
            entry: 0,
            attempt: 0,
        },
        output: json!("late"),
    };
    let progress = execution.handle(
        &definition(value),
        late,
        &mut simulate::VirtualWorld::new(start()),
    );
    assert!(progress.events.is_empty());
}

#[test]
fn wait_for_token_passes_the_token_and_heartbeats_keep_it_alive() {
    let value = json!({"StartAt": "Approve", "States": {"Approve": {
        "Type": "Task", "Resource": "ask.waitForTaskToken", "HeartbeatSeconds": 10, "End": true,
        "Parameters": {"token.$": "$$.Task.Token"}
    }}});
    let d = definition(value);
    let mut world = simulate::VirtualWorld::new(start());
    let mut execution = Execution::new(info(json!({})));
    let progress = execution.start(&d, &mut world);
    let Some(Command::Invoke(invocation)) = progress
        .commands
        .iter()
        .find(|c| matches!(c, Command::Invoke(_)))
        .cloned()
    else {
        panic!("no invocation in {progress:?}")
    };
    let token = invocation.token.clone().expect("a token");
    assert_eq!(invocation.input, json!({"token": token}));
    assert_eq!(invocation.resource, "ask");
    assert_eq!(
        execution.awaited_tokens(),
        std::collections::BTreeSet::from([token.clone()])
    );
    // Until its function returned, a restarted engine runs it again; after,
    // the task only waits for its token.
    let invokes = |e: &Execution| {
        e.outstanding()
            .iter()
            .filter(|c| matches!(c, Command::Invoke(_)))
            .count()
    };
    assert_eq!(invokes(&execution), 1);
    let submitted = execution.handle(
        &d,
        Signal::TaskSubmitted {
            task: invocation.task.clone(),
        },
        &mut world,
    );
    assert!(
        matches!(submitted.events.as_slice(), [Event::TaskSubmitted { .. }]),
        "{submitted:?}"
    );
    let mut replayed = Execution::new(info(json!({})));
    for event in progress.events.iter().chain(&submitted.events) {
        replayed.apply(event);
    }
    assert_eq!((invokes(&execution), invokes(&replayed)), (0, 0));
    assert_eq!(replayed.awaited_tokens(), execution.awaited_tokens());
    // A heartbeat at +8 s moves the deadline to +18 s: the first timer
    // (+10 s) is then early and armed again.
    world.now = start() + chrono::TimeDelta::seconds(8);
    let beat = execution.handle(
        &d,
        Signal::Heartbeat {
            task: invocation.task.clone(),
        },
        &mut world,
    );
    let heartbeat_timer = |p: &Progress| {
        p.commands.iter().find_map(|c| match c {
            Command::Timer { timer, at } if timer.purpose == TimerPurpose::Heartbeat => {
                Some((timer.clone(), *at))
            }
            _ => None,
        })
    };
    let (timer, at) = heartbeat_timer(&beat).expect("the heartbeat timer armed again");
    assert_eq!(at, start() + chrono::TimeDelta::seconds(18));
    world.now = start() + chrono::TimeDelta::seconds(10);
    let early = execution.handle(&d, Signal::TimerFired { timer: timer.clone() }, &mut world);
    assert!(early.events.is_empty());
    world.now = at;
    let fired = execution.handle(&d, Signal::TimerFired { timer }, &mut world);
    assert_eq!(execution.status(), Status::Failed, "{fired:?}");
    assert_eq!(
        execution.failure().map(|f| f.error.as_str()),
        Some("States.HeartbeatTimeout")
    );
    assert!(
        execution.awaited_tokens().is_empty(),
        "a timed out task awaits no answer"
    );
}

#[test]
fn map_concurrency_is_bounded_and_failures_tolerated_as_configured() {
    let map = |tolerance: Value| {
        let mut state = json!({
            "Type": "Map", "MaxConcurrency": 2, "End": true,
            "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "f", "End": true}}}
        });
        if let (Some(s), Some(t)) = (state.as_object_mut(), tolerance.as_object()) {
            s.extend(t.clone());
        }
        json!({"StartAt": "M", "States": {"M": state}})
    };
    let failing = |invocation: &Invocation| {
        Some(match invocation.input.as_i64() {
            Some(n) if n < 0 => Err(Failure::new("Item.Bad", format!("item {n}"))),
            _ => Ok(invocation.input.clone()),
        })
    };
    let simulation = run(map(json!({})), json!([1, 2, 3, 4, 5]), &mut |i| failing(i));
    assert_eq!(simulation.execution.output(), Some(&json!([1, 2, 3, 4, 5])));
    let mut running = 0i32;
    let mut most = 0;
    for event in &simulation.journal {
        match event {
            Event::IterationStarted { .. } => running += 1,
            Event::IterationSucceeded { .. } | Event::IterationFailed { .. } => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert_eq!(most, 2, "MaxConcurrency 2");

    // No tolerance: the first failure is the state's.
    let simulation = run(map(json!({})), json!([1, -2, 3]), &mut |i| failing(i));
    assert_eq!(
        simulation.execution.failure(),
        Some(&Failure::new("Item.Bad", "item -2"))
    );
    // One of four tolerated (25 %): the failed item's error is its result.
    let simulation = run(
        map(json!({"ToleratedFailurePercentage": 25})),
        json!([1, -2, 3, 4]),
        &mut |i| failing(i),
    );
    assert_eq!(
        simulation.execution.output(),
        Some(&json!([1, {"Error": "Item.Bad", "Cause": "item -2"}, 3, 4]))
    );
    // Two are more than one.
    let simulation = run(
        map(json!({"ToleratedFailureCount": 1})),
        json!([1, -2, -3, 4]),
        &mut |i| failing(i),
    );
    assert_eq!(
        simulation.execution.failure().map(|f| f.error.as_str()),
        Some("States.ExceedToleratedFailureThreshold")
    );
}

#[test]
fn a_failed_branch_stops_its_siblings_and_is_caught() {
    let value = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "After", "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 100, "Next": "Never"},
                "Never": {"Type": "Task", "Resource": "never", "End": true}}},
            {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "b"}}}
        ], "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.caught", "Next": "After"}]},
        "After": {"Type": "Pass", "End": true}
    }});
    let mut calls = 0;
    let simulation = run(value, json!({"x": 1}), &mut |_| {
        calls += 1;
        Some(Ok(json!(null)))
    });
    assert_eq!(
        simulation.execution.output(),
        Some(&json!({"x": 1, "caught": {"Error": "Boom", "Cause": "b"}}))
    );
    assert_eq!(calls, 0, "the aborted branch's task never ran");
}

#[test]
fn the_execution_times_out_and_can_be_stopped() {
    let value = json!({"TimeoutSeconds": 30, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let simulation = run(value, json!({}), &mut echo);
    assert_eq!(simulation.execution.status(), Status::TimedOut);
    assert_eq!(
        simulation.journal.last().map(Event::at),
        Some(start() + chrono::TimeDelta::seconds(30))
    );

    let d =
        definition(json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}));
    let mut world = simulate::VirtualWorld::new(start());
    let mut execution = Execution::new(info(json!({})));
    execution.start(&d, &mut world);
    let stop = Signal::Stop {
        failure: Failure::new("Operator.Stop", "no longer needed"),
    };
    execution.handle(&d, stop, &mut world);
    assert_eq!(execution.status(), Status::Aborted);
    assert!(execution.outstanding().is_empty());
}

#[test]
fn an_oversized_result_is_terminal_even_with_catch_all() {
    let value = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "big", "End": true,
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
        "Caught": {"Type": "Succeed"}
    }});
    let simulation = run(value, json!({}), &mut |_| {
        Some(Ok(json!("x".repeat(MAX_PAYLOAD))))
    });
    assert_eq!(simulation.execution.status(), Status::Failed);
    assert_eq!(
        simulation.execution.failure().map(|f| f.error.as_str()),
        Some("States.DataLimitExceeded")
    );
}

#[test]
fn waits_read_seconds_and_timestamps_from_the_input() {
    let value = json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "SecondsPath": "$.s", "Next": "B"},
        "B": {"Type": "Wait", "TimestampPath": "$.t", "End": true}
    }});
    let simulation = run(value, json!({"s": 7, "t": "2026-12-03T13:00:00Z"}), &mut echo);
    assert_eq!(simulation.execution.status(), Status::Succeeded);
    let fired: Vec<DateTime<Utc>> = simulation
        .journal
        .iter()
        .filter_map(|e| match e {
            Event::TimerFired { at, .. } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(
        fired,
        [
            start() + chrono::TimeDelta::seconds(7),
            start() + chrono::TimeDelta::hours(1)
        ]
    );
    let simulation = run(
        json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        json!({"s": "soon"}),
        &mut echo,
    );
    assert_eq!(
        simulation.execution.failure().map(|f| f.error.as_str()),
        Some("States.Runtime")
    );
}

#[test]
fn every_task_runs_with_the_calls_counted() {
    let mut count: HashMap<String, usize> = HashMap::new();
    let simulation = run(everything(), json!({}), &mut |invocation| {
        *count.entry(invocation.resource.clone()).or_default() += 1;
        flaky(invocation)
    });
    assert_eq!(simulation.execution.status(), Status::Succeeded);
    assert_eq!(count.get("flaky"), Some(&6), "three items, each failing once");
}

/// A Pass and a Choice that loop while the input's `go` is true, without a
/// task or timer: one decision would never end but for the limits.
fn spin() -> Value {
    json!({"StartAt": "Spin", "States": {
        "Spin": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": true, "Next": "Spin"}],
                  "Default": "Out"},
        "Out": {"Type": "Succeed"}
    }})
}

#[test]
fn an_endless_machine_stops_at_the_history_limit() {
    let simulation = run(spin(), json!({"go": true}), &mut echo);
    assert_eq!(simulation.execution.status(), Status::Failed);
    assert_eq!(
        simulation.execution.failure().map(|f| f.error.as_str()),
        Some("States.Runtime")
    );
    assert_eq!(simulation.execution.event_count(), MAX_EVENTS);
    assert_eq!(simulation.journal.len() as u64, MAX_EVENTS);
}

#[test]
fn a_machine_that_journals_too_much_stops_at_the_byte_limit() {
    // The same loop with a large input: each lap journals it four times,
    // so the bytes run out long before the events do.
    let input = json!({"go": true, "text": "x".repeat(200 * 1024)});
    let simulation = run(spin(), input.clone(), &mut echo);
    let failure = simulation.execution.failure().cloned();
    assert_eq!(simulation.execution.status(), Status::Failed);
    assert!(
        failure
            .as_ref()
            .is_some_and(|f| f.error == "States.Runtime" && f.cause.contains("100 MiB")),
        "{failure:?}"
    );
    assert!(simulation.execution.event_count() < 1_000);
    let bytes = simulation.execution.journal_bytes();
    assert!(bytes > MAX_JOURNAL_BYTES && bytes < MAX_JOURNAL_BYTES + 2 * 1024 * 1024);
    // A replay of the journal weighs it the same.
    let mut replayed = Execution::new(info(input));
    for event in &simulation.journal {
        replayed.apply(event);
    }
    assert_eq!(replayed.journal_bytes(), bytes);
}

#[test]
fn an_inline_map_runs_at_most_forty_iterations_at_once() {
    let value = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "f", "End": true}}}}}});
    let items: Vec<u32> = (0..100).collect();
    let simulation = run(value, json!(items), &mut echo);
    assert_eq!(simulation.execution.status(), Status::Succeeded);
    let (mut running, mut most) = (0i32, 0);
    for event in &simulation.journal {
        match event {
            Event::IterationStarted { .. } => running += 1,
            Event::IterationSucceeded { .. } | Event::IterationFailed { .. } => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert_eq!(most, MAX_MAP_CONCURRENCY as i32);
}
