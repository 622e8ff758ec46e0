//! From AnnoMI's labels to MITI 4.2.1 behaviour codes.
//!
//! The mapping (the model card in `models/coder/MODEL_CARD.md` gives the reasons):
//!
//! | AnnoMI | MITI 4.2.1 |
//! |---|---|
//! | question (open or closed) | Q |
//! | reflection simple / complex | SR / CR |
//! | therapist_input information | GI |
//! | therapist_input advice | Persuade, or Persuade with Permission where permission was asked |
//! | therapist_input negotiation | Seek Collaboration |
//! | therapist_input options | Emphasize Autonomy |
//!
//! AnnoMI does not annotate Affirm, Seek, Emphasize or Confront. Phrase
//! detectors (`models/coder/miti_rules.json`, written from the MITI 4.2.1
//! definitions and checked against a non-expert labelled sample) add them;
//! their codes carry lower confidence. A Persuade detector (directives such
//! as "you should", "why don't you") was added after that sample was scored;
//! an utterance it or the Confront detector flags loses a reflection code
//! the coder gave it (a person's codes are kept).

use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::utterance::{Codes, InputType, Main, Miti, ReflectionType, Role, Utterance};

/// The rules file, built in.
const RULES_JSON: &str = include_str!("../../models/coder/miti_rules.json");

/// How far back (in utterances) a permission question still licenses advice.
const PERMISSION_REACH: usize = 4;

#[derive(Deserialize)]
struct RulesFile {
    version: String,
    codes: std::collections::BTreeMap<String, RuleSet>,
}

#[derive(Deserialize)]
struct RuleSet {
    patterns: Vec<String>,
}

/// The compiled phrase detectors.
pub struct Rules {
    pub version: String,
    affirm: Vec<Regex>,
    seek: Vec<Regex>,
    emphasize: Vec<Regex>,
    confront: Vec<Regex>,
    persuade: Vec<Regex>,
    permission: Vec<Regex>,
}

impl Rules {
    /// The built-in rules, compiled once.
    pub fn builtin() -> &'static Rules {
        static R: OnceLock<Rules> = OnceLock::new();
        R.get_or_init(|| {
            let f: RulesFile = serde_json::from_str(RULES_JSON).expect("miti_rules.json is valid");
            let compile = |name: &str| -> Vec<Regex> {
                f.codes
                    .get(name)
                    .map(|r| {
                        r.patterns
                            .iter()
                            .map(|p| {
                                RegexBuilder::new(p)
                                    .case_insensitive(true)
                                    .build()
                                    .expect("miti_rules.json patterns compile")
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Rules {
                version: f.version.clone(),
                affirm: compile("affirm"),
                seek: compile("seek"),
                emphasize: compile("emphasize"),
                confront: compile("confront"),
                persuade: compile("persuade"),
                permission: compile("permission"),
            }
        })
    }

    fn norm(text: &str) -> String {
        text.trim().replace(['\u{2019}', '\u{2018}'], "'")
    }

    /// True when the practitioner asks permission in `text`.
    pub fn asks_permission(&self, text: &str) -> bool {
        let t = Self::norm(text);
        self.permission.iter().any(|r| r.is_match(&t))
    }

    /// The MITI codes the phrase detectors find in a practitioner utterance.
    pub fn detect(&self, text: &str) -> Vec<Miti> {
        let t = Self::norm(text);
        let hit = |rs: &[Regex]| rs.iter().any(|r| r.is_match(&t));
        let mut out = Vec::new();
        if hit(&self.affirm) {
            out.push(Miti::Affirm);
        }
        if hit(&self.seek) {
            out.push(Miti::Seek);
        }
        if hit(&self.emphasize) {
            out.push(Miti::Emphasize);
        }
        if hit(&self.confront) {
            out.push(Miti::Confront);
        }
        if hit(&self.persuade) {
            out.push(Miti::Persuade);
        }
        out
    }
}

/// MITI codes implied by AnnoMI labels. `permission` says whether permission
/// was asked in this or a recent practitioner utterance.
pub fn from_labels(c: &Codes, permission: bool) -> Vec<Miti> {
    let mut out = Vec::new();
    let question = c.main == Some(Main::Question) || c.question_exists == Some(true);
    let reflection = c.main == Some(Main::Reflection) || c.reflection_exists == Some(true);
    let input = c.main == Some(Main::Input) || c.input_exists == Some(true);
    if question {
        out.push(Miti::Question);
    }
    if reflection {
        out.push(match c.reflection {
            Some(ReflectionType::Complex) => Miti::ComplexReflection,
            _ => Miti::SimpleReflection,
        });
    }
    if input {
        match c.input {
            Some(InputType::Information) | None => out.push(Miti::GivingInformation),
            Some(InputType::Advice) if permission => out.push(Miti::PersuadeWithPermission),
            Some(InputType::Advice) => out.push(Miti::Persuade),
            Some(InputType::Negotiation) => out.push(Miti::Seek),
            Some(InputType::Options) => out.push(Miti::Emphasize),
        }
    }
    out
}

/// Fills in MITI codes for every practitioner utterance that has none:
/// mapped from its labels plus the phrase detectors. Codes already given
/// (by a person or the coder) are kept.
#[allow(clippy::needless_range_loop)] // looks back at earlier utterances by index
pub fn fill(utts: &mut [Utterance]) {
    let rules = Rules::builtin();
    let mut last_permission: Option<usize> = None;
    for i in 0..utts.len() {
        if utts[i].role != Role::Practitioner {
            continue;
        }
        let asks = rules.asks_permission(&utts[i].text);
        let permitted = asks || last_permission.is_some_and(|j| i - j <= PERMISSION_REACH);
        if asks {
            last_permission = Some(i);
        }
        if utts[i].codes.miti.is_some() {
            continue;
        }
        let mut codes = from_labels(&utts[i].codes, permitted);
        let found = rules.detect(&utts[i].text);
        // A directive is not a reflection (MITI 4.2.1): it replaces the coder's
        // SR/CR. A person's reflection code (no confidence) is left alone.
        let machine = utts[i].codes.confidence.is_some();
        if machine && (found.contains(&Miti::Persuade) || found.contains(&Miti::Confront)) {
            codes.retain(|c| !matches!(c, Miti::SimpleReflection | Miti::ComplexReflection));
        }
        for mut d in found {
            if d == Miti::Persuade && permitted {
                d = Miti::PersuadeWithPermission;
            }
            let already = codes.contains(&d)
                || (d == Miti::Persuade && codes.contains(&Miti::PersuadeWithPermission))
                || (d == Miti::PersuadeWithPermission && codes.contains(&Miti::Persuade));
            if !already {
                codes.push(d);
            }
        }
        codes.sort();
        utts[i].codes.miti = Some(codes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::utterance::QuestionType;

    #[test]
    fn labels_map_to_miti() {
        let c = Codes {
            main: Some(Main::Question),
            question: Some(QuestionType::Open),
            reflection_exists: Some(true),
            reflection: Some(ReflectionType::Complex),
            ..Default::default()
        };
        assert_eq!(
            from_labels(&c, false),
            vec![Miti::Question, Miti::ComplexReflection]
        );
        let advice = Codes {
            main: Some(Main::Input),
            input: Some(InputType::Advice),
            ..Default::default()
        };
        assert_eq!(from_labels(&advice, false), vec![Miti::Persuade]);
        assert_eq!(
            from_labels(&advice, true),
            vec![Miti::PersuadeWithPermission]
        );
    }

    #[test]
    fn detectors_fire_on_clear_cases_only() {
        let r = Rules::builtin();
        assert!(r
            .detect("It's up to you what you do next.")
            .contains(&Miti::Emphasize));
        assert!(r
            .detect("You're in denial about this.")
            .contains(&Miti::Confront));
        assert!(r
            .detect("What do you think about that idea?")
            .contains(&Miti::Seek));
        assert!(r
            .detect("That took a lot of courage.")
            .contains(&Miti::Affirm));
        assert!(r.detect("Tell me about your week.").is_empty());
        assert!(r
            .detect("You need to go to bed earlier.")
            .contains(&Miti::Persuade));
        assert!(r.asks_permission("Would it be okay if I shared some information?"));
    }
}
