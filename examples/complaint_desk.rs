//! The complaint desk: every complaint against the 24 h reply rule (Vanke,
//! 000 L574), its accountable owner (000 L572), the queue the desk works
//! from, and what complaints say about why customers leave (003 L221).
//!
//! A hotel's customer-relations desk of two, 陈静 and 刘洋, over one week:
//! a billing complaint answered the same morning and archived, a room
//! complaint answered a day and a half late (the guest left a month later),
//! a noise complaint still at `classified` three days on, and one that came
//! in an hour before the view.
//!
//! Run: `cargo run --example complaint_desk`

use chrono::{DateTime, TimeZone, Utc};
use clientele::complaint::{ComplaintPolicy, Complaints, Reply};
use clientele::core::{event::*, CustomerId, ExpectedVersion, NewEvent, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

/// `cargo test` runs the example too (`test = true` in Cargo.toml), so the
/// story it tells is checked.
#[test]
fn the_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, day, hour, 0, 0).unwrap()
}

fn step(id: &str, step: ComplaintStep, category: &str, owner: &str) -> Complaint {
    let mut c = Complaint::new(id, step);
    c.category = Some(category.into());
    c.owner = Some(owner.into());
    c.channel = Some(Channel::Phone);
    c
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let guest = |n: &str| CustomerId::from_external("hotel", n);
    let stay = |n: &str| Purchase::new(n, "880.00".parse().unwrap(), "CNY".parse().unwrap());

    // 王: billing, answered in 3 hours, rated 5, archived.
    let mut rated = step("H-1", ComplaintStep::FeedbackGiven, "billing", "陈静");
    rated.feedback_rating = Some(5);
    store.append(
        guest("wang"),
        ExpectedVersion::Any,
        vec![
            NewEvent::new(at(1, 8), stay("R-1")),
            NewEvent::new(
                at(3, 9),
                step("H-1", ComplaintStep::Received, "billing", "陈静"),
            ),
            NewEvent::new(
                at(3, 12),
                step("H-1", ComplaintStep::Resolved, "billing", "陈静"),
            ),
            NewEvent::new(at(4, 10), rated),
            NewEvent::new(
                at(5, 10),
                step("H-1", ComplaintStep::Archived, "billing", "陈静"),
            ),
        ],
    )?;
    // 李: the room, answered 60 hours after the call; she left a month later.
    store.append(
        guest("li"),
        ExpectedVersion::Any,
        vec![
            NewEvent::new(at(1, 20), stay("R-2")),
            NewEvent::new(
                at(2, 9),
                step("H-2", ComplaintStep::Received, "room", "刘洋"),
            ),
            NewEvent::new(
                at(4, 21),
                step("H-2", ComplaintStep::Resolved, "room", "刘洋"),
            ),
            NewEvent::new(
                at(30, 9),
                Churn {
                    reason: "booked elsewhere".into(),
                    voluntary: true,
                },
            ),
        ],
    )?;
    // 赵: noise, classified, then nothing.
    store.append(
        guest("zhao"),
        ExpectedVersion::Any,
        vec![
            NewEvent::new(
                at(5, 22),
                step("H-3", ComplaintStep::Received, "noise", "刘洋"),
            ),
            NewEvent::new(
                at(5, 23),
                step("H-3", ComplaintStep::Classified, "noise", "刘洋"),
            ),
        ],
    )?;
    // 孙: an hour before the view.
    store.append(
        guest("sun"),
        ExpectedVersion::Any,
        vec![NewEvent::new(
            at(8, 17),
            step("H-4", ComplaintStep::Received, "room", "陈静"),
        )],
    )?;

    let mut complaints = Complaints::open(&store)?;
    complaints.catch_up()?;
    let policy = ComplaintPolicy::default();

    // The desk on the evening of 8 June.
    let desk = complaints.desk(policy.clone(), at(8, 18))?;
    println!("The queue as of {}:", desk.as_of);
    for s in desk.queue() {
        let how = match s.reply {
            Reply::Overdue => format!("overdue by {:.0} h", s.hours_past_deadline.unwrap_or(0.0)),
            Reply::Waiting => "waiting for an answer".to_owned(),
            Reply::Late | Reply::InTime => {
                format!(
                    "answered in {:.0} h, not archived",
                    s.hours_to_answer.unwrap_or(0.0)
                )
            }
        };
        println!(
            "  {} {:<10} {:<6} {} ({})",
            s.complaint,
            s.step,
            s.category.as_deref().unwrap_or("-"),
            how,
            s.owner.as_deref().unwrap_or("-")
        );
    }
    let queue: Vec<(&str, Reply)> = desk
        .queue()
        .map(|s| (s.complaint.as_str(), s.reply))
        .collect();
    assert_eq!(
        queue,
        [
            ("H-3", Reply::Overdue),
            ("H-4", Reply::Waiting),
            ("H-2", Reply::Late)
        ]
    );
    println!(
        "{} complaints; of the {} answered or past their deadline, {} answered in time",
        desk.figures.all.complaints,
        desk.figures.all.in_time + desk.figures.all.late + desk.figures.all.overdue,
        desk.figures.all.in_time
    );
    assert_eq!(desk.figures.all.in_time_rate, Some(1.0 / 3.0));
    for owner in &desk.figures.by_owner {
        println!(
            "  {}: {} complaints, {} overdue",
            owner.key.as_deref().unwrap_or("-"),
            owner.complaints,
            owner.overdue
        );
    }
    assert_eq!(desk.figures.by_owner[0].key.as_deref(), Some("刘洋"));
    assert_eq!(desk.figures.by_owner[0].overdue, 1);

    // Half a year on, every churn window has closed: which complaints did a
    // departure follow?
    let later = complaints.desk(policy, Utc.with_ymd_and_hms(2024, 12, 31, 0, 0, 0).unwrap())?;
    for category in &later.figures.by_category {
        println!(
            "  {}: churn followed {} of {}",
            category.key.as_deref().unwrap_or("-"),
            category.churned_after,
            category.churn_observed
        );
    }
    let room = later
        .figures
        .by_category
        .iter()
        .find(|f| f.key.as_deref() == Some("room"))
        .ok_or("no room complaints")?;
    assert_eq!((room.churned_after, room.churn_observed), (1, 2));
    assert_eq!(later.figures.complaint_rate, Some(1.0));
    Ok(())
}
