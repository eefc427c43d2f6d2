//! `group`: a local group, with groupadd/groupmod/groupdel.

use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use crate::sys;
use serde_json::{json, Value as Json};

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let name = spec.str_or_title("name")?;
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let gid = spec.int("gid")?;
    let found = sys::find_group(name);
    let mut plan = Plan::new(match &found {
        None => Json::Null,
        Some(e) => json!({"gid": e.id(), "members": e.field(3)}),
    });
    match (present, found) {
        (false, None) => {}
        (false, Some(_)) => {
            plan.action = Action::Delete;
            plan.changes.push(AttrChange {
                attr: "state".into(),
                from: json!("present"),
                to: json!("absent"),
            });
        }
        (true, None) => {
            plan.action = Action::Create;
            plan.changes.push(AttrChange {
                attr: "state".into(),
                from: Json::Null,
                to: json!("present"),
            });
            if let Some(g) = gid {
                plan.changes.push(AttrChange {
                    attr: "gid".into(),
                    from: Json::Null,
                    to: json!(g),
                });
            }
        }
        (true, Some(e)) => {
            if let Some(g) = gid {
                if e.id().map(i64::from) != Some(g) {
                    plan.change("gid", json!(e.id()), g);
                }
            }
        }
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let name = spec.str_or_title("name")?;
    let gid = spec.int("gid")?.map(|g| g.to_string());
    match plan.action {
        Action::Delete => sys::run_ok("groupdel", &[name]).map(|_| ()),
        Action::Create => {
            let mut args: Vec<&str> = Vec::new();
            if let Some(g) = &gid {
                args.extend(["-g", g]);
            }
            if spec.bool("system", false)? {
                args.push("-r");
            }
            args.push(name);
            sys::run_ok("groupadd", &args).map(|_| ())
        }
        _ => match &gid {
            Some(g) => sys::run_ok("groupmod", &["-g", g, name]).map(|_| ()),
            None => Ok(()),
        },
    }
}
