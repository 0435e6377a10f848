//! An `approval` action: the topic to notify, the message and the link shown to the
//! approver.

use super::super::Cx;
use crate::diag::YamlPath;
use crate::model::*;
use crate::names;
use crate::raw::*;

impl Cx<'_> {
    pub(super) fn approval(&mut self, aprp: &YamlPath, ap: &RawApproval) -> ActionKind {
        if let Some(topic) = &ap.notify {
            let ok = names::arn(topic)
                .is_some_and(|x| x.service == "sns" && names::account_id(x.account).is_ok());
            if ok {
                self.arn_in_partition(&aprp.key("notify"), topic, "SNS topic");
            } else {
                self.err(
                    aprp.key("notify"),
                    format!("`{topic}` is not an SNS topic ARN"),
                );
            }
        }
        if let Some(u) = &ap.url {
            if !u.starts_with("https://") && !u.starts_with("http://") {
                self.err(aprp.key("url"), format!("`{u}` is not a URL"));
            }
        }
        if ap.message.as_ref().is_some_and(|m| m.chars().count() > 512) {
            self.err(
                aprp.key("message"),
                "approval message is longer than 512 characters",
            );
        }
        ActionKind::Approval {
            notify: ap.notify.clone(),
            message: ap.message.clone(),
            url: ap.url.clone(),
        }
    }
}
