//! {{name}}: a NetControl plugin. This starting point keeps the rules it is given in a map and
//! reports each one as added; it talks to no device.
//!
//! A real plugin applies `add_rule` and `remove_rule` to a network device (a firewall, a switch)
//! and reports the outcome through `rule_feedback` (`added`, `removed` or `error`).

use std::collections::HashMap;

use sandpiper_sdk::{rule_feedback, Action, NetControlPlugin, Rule};

/// The plugin's state lives across calls (until a call fails: then it starts again from
/// `Default`).
#[derive(Default)]
struct RuleTable {
    /// The rules in place, by id.
    rules: HashMap<u64, Rule>,
}

/// What a rule does, for the feedback message.
fn describe(action: &Action) -> String {
    match action {
        Action::Drop => "drop".to_string(),
        Action::Shunt => "shunt".to_string(),
        Action::RateLimit(bytes_per_sec) => format!("rate-limit to {bytes_per_sec} B/s"),
    }
}

impl NetControlPlugin for RuleTable {
    fn name(&self) -> String {
        "{{name}}".to_string()
    }

    fn add_rule(&mut self, rule: Rule) -> Result<(), String> {
        // Apply the rule to the device here; return Err (or report rule_feedback::error) if
        // that fails.
        let (id, msg) = (rule.id, describe(&rule.action));
        self.rules.insert(id, rule);
        rule_feedback::added(id, &msg);
        Ok(())
    }

    fn remove_rule(&mut self, rule_id: u64) -> Result<(), String> {
        match self.rules.remove(&rule_id) {
            Some(rule) => {
                rule_feedback::removed(rule_id, &describe(&rule.action));
                Ok(())
            }
            None => Err(format!("no rule with id {rule_id}")),
        }
    }
}

sandpiper_sdk::export_netcontrol_plugin!(RuleTable);
