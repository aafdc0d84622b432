//! A stream that meets "Transaction cancelled: maximum execution time exceeded" says so in a
//! `tracing` warning each time it halves its page. Alone in its test binary: a subscriber set
//! for one thread misses events whose call site another test thread registered at the same
//! moment.

mod emulator;

use std::sync::{Arc, Mutex};

use futures::TryStreamExt as _;
use serde::Deserialize;
use servicenow_emulator::Emulator;
use servicenow_table::{FieldName, ReadOptions, StreamConfig, TableName};

#[derive(Debug, Deserialize)]
struct Row {
    #[allow(dead_code)] // Read to make the rows typed; the count is what is checked.
    sys_id: String,
}

/// The messages of the `tracing` events emitted while a closure's future runs on this thread.
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0.lock().expect("not poisoned").push(message);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn each_halving_is_a_warning_that_names_the_cancellation_and_the_sizes() {
    let emulator = emulator::start(
        Emulator::builder()
            .rows("incident", 300)
            .configure(|settings| settings.transaction_timeout_above_rows = Some(70)),
    )
    .await;
    let client = emulator::client(&emulator);
    let events = Events::default();
    let _guard = tracing::subscriber::set_default(events.clone());
    let options = ReadOptions {
        fields: vec![FieldName::new("sys_id").expect("valid")],
        ..ReadOptions::default()
    };
    let incident = TableName::new("incident").expect("valid");
    let rows: Vec<Row> = client
        // One page at a time: the pages start at the full 1,000 rows (with prefetch, the
        // first page is an eighth of that).
        .stream(
            &incident,
            None,
            options,
            StreamConfig {
                prefetch: 0,
                ..StreamConfig::default()
            },
        )
        .try_collect()
        .await
        .expect("the stream completes");
    assert_eq!(rows.len(), 300);
    let events = events.0.lock().expect("not poisoned").clone();
    let halvings: Vec<&String> = events
        .iter()
        .filter(|message| message.contains("maximum execution time exceeded"))
        .collect();
    assert_eq!(halvings.len(), 4, "{events:?}");
    assert!(
        halvings[0].contains("stream incident") && halvings[0].contains("halved from 1000 to 500"),
        "{halvings:?}"
    );
    assert!(halvings[3].contains("from 125 to 62"), "{halvings:?}");
}
