//! Rules checked over the whole playbook once every file is read: it has steps, and every
//! `notify` names a handler or a `listen` topic.

use std::path::Path;

use super::Loader;
use crate::playbook::error::PlaybookError;
use crate::playbook::model::Step;

/// A playbook without a single step is a mistake (the wrong file, or `tasks:` misnamed).
pub(super) fn has_steps(
    path: &Path,
    steps: &[Step],
    steps_position: Option<(usize, usize)>,
) -> Result<(), PlaybookError> {
    if !steps.is_empty() {
        return Ok(());
    }
    let message = "the playbook has no steps: add a `steps:` list with at least one step \
                   (a module such as `command: {cmd: uptime}`)"
        .to_string();
    Err(match steps_position.filter(|&(line, _)| line > 0) {
        Some(position) => PlaybookError::invalid(path, position, message),
        None => PlaybookError::whole(path, message),
    })
}

impl Loader {
    /// Every `notify` names a handler or a `listen` topic (handlers may come after the steps
    /// that notify them, or from a role: checked once all are read).
    pub(super) fn check_notifies(&self) -> Result<(), PlaybookError> {
        for notify in &self.notifies {
            if self.handler_places.contains_key(&notify.handler)
                || self.topics.contains(&notify.handler)
            {
                continue;
            }
            let mut names: Vec<&str> = self.handlers.iter().map(|h| h.name.as_str()).collect();
            names.sort_unstable();
            let mut topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
            topics.sort_unstable();
            let known = if names.is_empty() {
                "there are no handlers: add a `handlers:` list".to_string()
            } else if topics.is_empty() {
                format!("handlers: {}", names.join(", "))
            } else {
                format!(
                    "handlers: {}; listen topics: {}",
                    names.join(", "),
                    topics.join(", ")
                )
            };
            return Err(PlaybookError::invalid(
                &notify.file,
                notify.position,
                format!(
                    "{} notifies '{}', but no handler has that name or `listen` topic ({known})",
                    notify.step, notify.handler
                ),
            ));
        }
        Ok(())
    }
}
