//! The documentation shows what the code does.

use clientele_complaint::ComplaintPolicy;

/// The default policy printed under "The policy" in `docs/complaints.md` is
/// the default policy: a new field, or a changed default, must be
/// documented there.
#[test]
fn the_documented_default_policy_is_the_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/complaints.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc
        .split("## The policy")
        .nth(1)
        .expect("a section on the policy");
    let json = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a JSON block in it");
    let documented: ComplaintPolicy = serde_json::from_str(json).unwrap();
    assert_eq!(documented, ComplaintPolicy::default());
}
