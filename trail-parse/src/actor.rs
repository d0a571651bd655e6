//! The `actor` rule: who, as a person or a service, made a call.
//!
//! | `userIdentity` | `actor` | `role_name` |
//! |---|---|---|
//! | any type with `onBehalfOf.userId` (IAM Identity Center, trusted identity propagation) | `onBehalfOf.userId` | as below |
//! | any type with `onBehalfOf.subject` and `subjectType` `user` but no `userId` (IAM federation path) | `onBehalfOf.subject` | as below |
//! | `AssumedRole` | session name: `SESSION` in `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` (else the part of `principalId` after `:`) | `ROLE` (else `sessionIssuer.userName`) |
//! | `IAMUser` | `userName` (else the last part of `arn`) | |
//! | `Root` | `root` | |
//! | `AWSService` | `invokedBy` | |
//! | `FederatedUser` | `NAME` in `arn:aws:sts::ACCT:federated-user/NAME` | |
//! | `SAMLUser`, `WebIdentityUser`, `IdentityCenterUser`, others | `userName`, else `principalId` | |
//! | `AWSAccount` | `principalId`, else `accountId` | |
//! | no `userIdentity` type | `invokedBy`, else null | |
//!
//! For any type, `role_name` falls back to `sessionIssuer.userName` when the
//! session issuer is a `Role`.

use std::borrow::Cow;

/// The identity fields the rule looks at.
#[derive(Debug, Default, Clone, Copy)]
pub struct Identity<'a> {
    /// `userIdentity.type`.
    pub kind: Option<&'a str>,
    /// `userIdentity.arn`.
    pub arn: Option<&'a str>,
    /// `userIdentity.userName`.
    pub user_name: Option<&'a str>,
    /// `userIdentity.principalId`.
    pub principal_id: Option<&'a str>,
    /// `userIdentity.accountId`.
    pub account_id: Option<&'a str>,
    /// `userIdentity.invokedBy`.
    pub invoked_by: Option<&'a str>,
    /// `userIdentity.onBehalfOf.userId`.
    pub on_behalf_of_user_id: Option<&'a str>,
    /// `userIdentity.onBehalfOf.subject`.
    pub on_behalf_of_subject: Option<&'a str>,
    /// `userIdentity.onBehalfOf.subjectType`.
    pub on_behalf_of_subject_type: Option<&'a str>,
    /// `userIdentity.sessionContext.sessionIssuer.type`.
    pub session_issuer_type: Option<&'a str>,
    /// `userIdentity.sessionContext.sessionIssuer.userName`.
    pub session_issuer_user_name: Option<&'a str>,
}

/// Apply the rule: `(actor, role_name)`.
///
/// ```
/// use trail_parse::actor::{actor, Identity};
/// let id = Identity {
///     kind: Some("AssumedRole"),
///     arn: Some("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Analyst_abc/jane@example.com"),
///     ..Identity::default()
/// };
/// let (who, role) = actor(&id);
/// assert_eq!(who.as_deref(), Some("jane@example.com"));
/// assert_eq!(role.as_deref(), Some("AWSReservedSSO_Analyst_abc"));
/// ```
pub fn actor<'a>(id: &Identity<'a>) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
    let nonempty = |s: Option<&'a str>| s.filter(|s| !s.is_empty());
    let mut role = None;
    let mut who = match id.kind {
        Some("AssumedRole") => match nonempty(id.arn).and_then(assumed_role) {
            Some((r, session)) => {
                role = Some(r);
                Some(session)
            }
            None => nonempty(id.principal_id)
                .map(|p| p.split_once(':').map_or(p, |(_, session)| session)),
        },
        Some("IAMUser") => {
            nonempty(id.user_name).or_else(|| nonempty(id.arn).and_then(|a| a.rsplit('/').next()))
        }
        Some("Root") => Some("root"),
        Some("AWSService") => nonempty(id.invoked_by),
        Some("FederatedUser") => nonempty(id.arn)
            .and_then(|a| a.split_once(":federated-user/").map(|(_, n)| n))
            .or(nonempty(id.user_name))
            .or(nonempty(id.principal_id)),
        Some("AWSAccount") => nonempty(id.principal_id).or(nonempty(id.account_id)),
        Some(_) => nonempty(id.user_name).or(nonempty(id.principal_id)),
        None => nonempty(id.invoked_by),
    };
    // The person behind an identity-enhanced session: the Identity Center
    // user id, else (IAM federation path) the subject when it is a person.
    if let Some(user) = nonempty(id.on_behalf_of_user_id) {
        who = Some(user);
    } else if id.on_behalf_of_subject_type == Some("user") {
        if let Some(subject) = nonempty(id.on_behalf_of_subject) {
            who = Some(subject);
        }
    }
    if role.is_none() && id.session_issuer_type == Some("Role") {
        role = nonempty(id.session_issuer_user_name);
    }
    (who.map(Cow::Borrowed), role.map(Cow::Borrowed))
}

/// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION` → `(ROLE, SESSION)`.
pub fn assumed_role(arn: &str) -> Option<(&str, &str)> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(":assumed-role/"));
    let at = FINDER.find(arn.as_bytes())?;
    let rest = &arn[at + ":assumed-role/".len()..];
    let (role, session) = rest.split_once('/')?;
    (!role.is_empty() && !session.is_empty()).then_some((role, session))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(id: Identity<'_>) -> (Option<String>, Option<String>) {
        let (a, r) = actor(&id);
        (a.map(|s| s.into_owned()), r.map(|s| s.into_owned()))
    }

    #[test]
    fn rule_table() {
        let base = Identity::default();
        assert_eq!(
            run(Identity {
                kind: Some("IAMUser"),
                user_name: Some("alice"),
                ..base
            }),
            (Some("alice".into()), None)
        );
        assert_eq!(
            run(Identity {
                kind: Some("IAMUser"),
                arn: Some("arn:aws:iam::1:user/path/bob"),
                ..base
            }),
            (Some("bob".into()), None)
        );
        assert_eq!(
            run(Identity {
                kind: Some("Root"),
                ..base
            })
            .0
            .as_deref(),
            Some("root")
        );
        assert_eq!(
            run(Identity {
                kind: Some("AWSService"),
                invoked_by: Some("athena.amazonaws.com"),
                ..base
            })
            .0
            .as_deref(),
            Some("athena.amazonaws.com")
        );
        assert_eq!(
            run(Identity {
                kind: Some("AssumedRole"),
                principal_id: Some("AROAX:etl-job"),
                session_issuer_type: Some("Role"),
                session_issuer_user_name: Some("Etl"),
                ..base
            }),
            (Some("etl-job".into()), Some("Etl".into()))
        );
        assert_eq!(
            run(Identity {
                kind: Some("AssumedRole"),
                arn: Some("arn:aws:sts::1:assumed-role/Transfer/aws-transfer"),
                on_behalf_of_user_id: Some("191a35ec"),
                ..base
            }),
            (Some("191a35ec".into()), Some("Transfer".into()))
        );
        // Trusted identity propagation, IAM federation path: the subject,
        // when it is a person; the user id wins when both are there.
        let federated = Identity {
            kind: Some("AssumedRole"),
            arn: Some("arn:aws:sts::1:assumed-role/DataAnalystRole/example-user-1"),
            on_behalf_of_subject: Some("jane.doe@example.com"),
            on_behalf_of_subject_type: Some("user"),
            ..base
        };
        assert_eq!(
            run(federated),
            (
                Some("jane.doe@example.com".into()),
                Some("DataAnalystRole".into())
            )
        );
        assert_eq!(
            run(Identity {
                on_behalf_of_user_id: Some("976710cc5d-9d97"),
                ..federated
            })
            .0
            .as_deref(),
            Some("976710cc5d-9d97")
        );
        assert_eq!(
            run(Identity {
                on_behalf_of_subject_type: Some("workload"),
                ..federated
            })
            .0
            .as_deref(),
            Some("example-user-1"),
            "a workload subject is not a person: the session name stays"
        );
        assert_eq!(
            run(Identity {
                kind: Some("FederatedUser"),
                arn: Some("arn:aws:sts::1:federated-user/carol"),
                ..base
            })
            .0
            .as_deref(),
            Some("carol")
        );
        assert_eq!(
            run(Identity {
                kind: Some("SAMLUser"),
                user_name: Some("dave@example.com"),
                ..base
            })
            .0
            .as_deref(),
            Some("dave@example.com")
        );
        assert_eq!(
            run(Identity {
                kind: Some("AWSAccount"),
                account_id: Some("123"),
                ..base
            })
            .0
            .as_deref(),
            Some("123")
        );
        assert_eq!(run(base), (None, None));
    }

    proptest! {
        #[test]
        fn assumed_role_arn_gives_role_and_session(
            partition in prop_oneof![Just("aws"), Just("aws-us-gov"), Just("aws-cn")],
            account in "[0-9]{12}",
            role in "[A-Za-z0-9+=,.@_-]{1,64}",
            session in "[A-Za-z0-9+=,.@_-]{2,64}",
        ) {
            let arn = format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}");
            let (who, r) = run(Identity { kind: Some("AssumedRole"), arn: Some(&arn), ..Identity::default() });
            prop_assert_eq!(who, Some(session));
            prop_assert_eq!(r, Some(role));
        }

        #[test]
        fn never_panics(kind in "\\PC{0,12}", arn in "\\PC{0,40}", pid in "\\PC{0,20}") {
            let _ = actor(&Identity { kind: Some(&kind), arn: Some(&arn), principal_id: Some(&pid), ..Identity::default() });
        }
    }
}
