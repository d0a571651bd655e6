//! The `events` table: one row per CloudTrail record, every documented field
//! as a column, free-form objects as their exact JSON text, and anything that
//! does not fit a column kept in `additional_fields`.

use std::borrow::Cow;

use crate::actor::{actor, Identity};
use crate::columns::{table, Bool, Date, Int, Resource, Resources, Text, TimestampMs};
use crate::json::{
    as_bool, as_json, as_text, object_members_predicted, push_member, scalar, ExpectedKey,
    JsonError, Key, Member, Raw, Scalar,
};
use crate::time::{day_of, parse_millis};
use crate::RecordError;

table! {
    /// One `events` row, borrowing from the record's text.
    row EventRow;
    /// Column builders of the `events` table.
    builder EventsBuilder;
    columns {
        event_time: TimestampMs,
        event_version: Text,
        event_source: Text,
        event_name: Text,
        aws_region: Text,
        source_ip_address: Text,
        user_agent: Text,
        error_code: Text,
        error_message: Text,
        user_identity_type: Text,
        user_identity_principal_id: Text,
        user_identity_arn: Text,
        user_identity_account_id: Text,
        user_identity_access_key_id: Text,
        user_identity_user_name: Text,
        user_identity_invoked_by: Text,
        user_identity_identity_provider: Text,
        user_identity_credential_id: Text,
        user_identity_session_creation_date: TimestampMs,
        user_identity_mfa_authenticated: Bool,
        user_identity_source_identity: Text,
        user_identity_ec2_role_delivery: Text,
        user_identity_assumed_root: Text,
        session_issuer_type: Text,
        session_issuer_principal_id: Text,
        session_issuer_arn: Text,
        session_issuer_account_id: Text,
        session_issuer_user_name: Text,
        web_id_federation_provider: Text,
        web_id_federation_attributes: Text,
        on_behalf_of_user_id: Text,
        on_behalf_of_identity_store_arn: Text,
        on_behalf_of_subject: Text,
        on_behalf_of_subject_type: Text,
        on_behalf_of_issuer: Text,
        in_scope_of: Text,
        request_parameters: Text,
        response_elements: Text,
        additional_event_data: Text,
        request_id: Text,
        event_id: Text,
        event_type: Text,
        api_version: Text,
        management_event: Bool,
        read_only: Bool,
        resources: Resources,
        recipient_account_id: Text,
        service_event_details: Text,
        shared_event_id: Text,
        vpc_endpoint_id: Text,
        vpc_endpoint_account_id: Text,
        event_category: Text,
        addendum: Text,
        session_credential_from_console: Bool,
        edge_device_details: Text,
        tls_version: Text,
        tls_cipher_suite: Text,
        tls_client_provided_host_header: Text,
        insight_details: Text,
        event_context: Text,
        additional_fields: Text,
        actor: Text,
        role_name: Text,
        source_key: Text,
        record_index: Int,
        event_date: Date,
    }
}

/// Where a record comes from.
pub(crate) struct Origin<'k> {
    pub key: &'k str,
    pub index: u64,
    /// Days since the epoch of the key's delivery date, for records without `eventTime`.
    pub fallback_day: Option<i32>,
    /// Blank secrets in the JSON columns (see [`crate::redact`]).
    pub redact: bool,
}

/// [`flatten_into`] a new row, returned with the record's length (for tests).
#[cfg(test)]
pub(crate) fn flatten<'a>(
    text: &'a str,
    origin: &Origin<'a>,
) -> Result<(EventRow<'a>, usize), RecordError> {
    let mut row = EventRow::default();
    let len = flatten_into(&mut row, text, origin)?;
    Ok((row, len))
}

/// Turn the record at the start of `text` into the `events` row `row` (the
/// caller holds it: a row is some 1.5 KB, and returning it by value copied it
/// once more per record); returns where the record ends (`text` may go on
/// past it).
pub(crate) fn flatten_into<'a>(
    row: &mut EventRow<'a>,
    text: &'a str,
    origin: &Origin<'a>,
) -> Result<usize, RecordError> {
    let mut extra: Vec<(Cow<'a, str>, Raw<'a>)> = Vec::new();
    let mut seen = 0u64;
    let walked = object_members_predicted(text, &TOP_KEYS, |key, member| {
        let (top, key) = match key {
            Key::Expected(i) => (TOP_ORDER[i], Cow::Borrowed(TOP_KEYS[i].name())),
            Key::Other(key) => {
                extra.push((key, member.raw()?));
                return Ok(());
            }
        };
        // A duplicate key: the first value stays in its column, later ones go to additional_fields.
        if seen & top.bit() != 0 {
            extra.push((key, member.raw()?));
            return Ok(());
        }
        seen |= top.bit();
        // Nested values with columns are walked in place: one scan.
        let (fits, value) = match top {
            Top::UserIdentity => user_identity(row, member)?,
            Top::TlsDetails => tls_details(row, member)?,
            Top::Resources => resources(row, member)?,
            _ => {
                let value = member.raw()?;
                (top_level_into(row, top, value), value)
            }
        };
        if !fits {
            extra.push((key, value));
        }
        Ok(())
    });
    let len = match walked {
        Ok(len) => len,
        Err(e) => {
            let what = match text.as_bytes().first() {
                Some(b'{') => format!("not valid JSON: {e}"),
                _ => format!("not a JSON object ({})", json_kind(text)),
            };
            return Err(RecordError {
                index: origin.index,
                field: None,
                reason: what,
            });
        }
    };

    if !extra.is_empty() {
        let mut out = String::with_capacity(64);
        out.push('{');
        for (k, v) in &extra {
            push_member(&mut out, k, v.get());
        }
        out.push('}');
        row.additional_fields = Some(Cow::Owned(out));
    }

    if origin.redact {
        for column in [
            &mut row.request_parameters,
            &mut row.response_elements,
            &mut row.additional_event_data,
            &mut row.service_event_details,
            &mut row.additional_fields,
        ] {
            if let Some(redacted) = column.as_deref().and_then(crate::redact::redact_json) {
                *column = Some(Cow::Owned(redacted));
            }
        }
    }
    let (who, role) = derive_actor(row);
    row.actor = who;
    row.role_name = role;
    row.source_key = Some(Cow::Borrowed(origin.key));
    row.record_index = Some(origin.index as i64);
    row.event_date = row.event_time.map(day_of).or(origin.fallback_day);
    Ok(len)
}

/// Set the column of a top-level member that is not walked in place;
/// `false` when it does not fit (unknown key, wrong kind of value).
fn top_level_into<'a>(row: &mut EventRow<'a>, key: Top, value: Raw<'a>) -> bool {
    match key {
        Top::EventTime => match scalar(value) {
            Scalar::Str(s) => match parse_millis(&s) {
                Some(ms) => {
                    row.event_time = Some(ms);
                    true
                }
                None => false,
            },
            Scalar::Null => true,
            _ => false,
        },
        Top::EventVersion => text_into(&mut row.event_version, value),
        Top::EventSource => text_into(&mut row.event_source, value),
        Top::EventName => text_into(&mut row.event_name, value),
        Top::AwsRegion => text_into(&mut row.aws_region, value),
        Top::SourceIpAddress => text_into(&mut row.source_ip_address, value),
        Top::UserAgent => text_into(&mut row.user_agent, value),
        Top::ErrorCode => text_into(&mut row.error_code, value),
        Top::ErrorMessage => text_into(&mut row.error_message, value),
        Top::RequestId => text_into(&mut row.request_id, value),
        Top::EventId => text_into(&mut row.event_id, value),
        Top::EventType => text_into(&mut row.event_type, value),
        Top::ApiVersion => text_into(&mut row.api_version, value),
        Top::RecipientAccountId => text_into(&mut row.recipient_account_id, value),
        Top::SharedEventId => text_into(&mut row.shared_event_id, value),
        Top::VpcEndpointId => text_into(&mut row.vpc_endpoint_id, value),
        Top::VpcEndpointAccountId => text_into(&mut row.vpc_endpoint_account_id, value),
        Top::EventCategory => text_into(&mut row.event_category, value),
        Top::ManagementEvent => bool_into(&mut row.management_event, value),
        Top::ReadOnly => bool_into(&mut row.read_only, value),
        Top::SessionCredentialFromConsole => {
            bool_into(&mut row.session_credential_from_console, value)
        }
        Top::RequestParameters => json_into(&mut row.request_parameters, value),
        Top::ResponseElements => json_into(&mut row.response_elements, value),
        Top::AdditionalEventData => json_into(&mut row.additional_event_data, value),
        Top::ServiceEventDetails => json_into(&mut row.service_event_details, value),
        Top::Addendum => json_into(&mut row.addendum, value),
        Top::EdgeDeviceDetails => json_into(&mut row.edge_device_details, value),
        Top::InsightDetails => json_into(&mut row.insight_details, value),
        Top::EventContext => json_into(&mut row.event_context, value),
        Top::UserIdentity | Top::TlsDetails | Top::Resources => false,
    }
}

/// The known top-level keys of a record, usually recognised by their
/// expected position (see [`TOP_ORDER`]); duplicates are noticed with one bit per key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Top {
    EventTime = 0,
    EventVersion = 1,
    EventSource = 2,
    EventName = 3,
    AwsRegion = 4,
    SourceIpAddress = 5,
    UserAgent = 6,
    ErrorCode = 7,
    ErrorMessage = 8,
    RequestId = 9,
    EventId = 10,
    EventType = 11,
    ApiVersion = 12,
    RecipientAccountId = 13,
    SharedEventId = 14,
    VpcEndpointId = 15,
    VpcEndpointAccountId = 16,
    EventCategory = 17,
    ManagementEvent = 18,
    ReadOnly = 19,
    SessionCredentialFromConsole = 20,
    RequestParameters = 21,
    ResponseElements = 22,
    AdditionalEventData = 23,
    ServiceEventDetails = 24,
    Addendum = 25,
    EdgeDeviceDetails = 26,
    InsightDetails = 27,
    EventContext = 28,
    UserIdentity = 29,
    TlsDetails = 30,
    Resources = 31,
}

/// The top-level keys in the order CloudTrail writes them (optional ones
/// where they appear, the rarest last), for [`object_members_predicted`].
const TOP_ORDER: [Top; 32] = [
    Top::EventVersion,
    Top::UserIdentity,
    Top::EventTime,
    Top::EventSource,
    Top::EventName,
    Top::AwsRegion,
    Top::SourceIpAddress,
    Top::UserAgent,
    Top::ErrorCode,
    Top::ErrorMessage,
    Top::RequestParameters,
    Top::ResponseElements,
    Top::AdditionalEventData,
    Top::RequestId,
    Top::EventId,
    Top::ReadOnly,
    Top::Resources,
    Top::EventType,
    Top::ApiVersion,
    Top::ManagementEvent,
    Top::RecipientAccountId,
    Top::VpcEndpointId,
    Top::VpcEndpointAccountId,
    Top::EventCategory,
    Top::TlsDetails,
    Top::SessionCredentialFromConsole,
    Top::SharedEventId,
    Top::ServiceEventDetails,
    Top::Addendum,
    Top::EdgeDeviceDetails,
    Top::InsightDetails,
    Top::EventContext,
];

/// The keys of [`TOP_ORDER`], as the JSON spells them.
static TOP_KEYS: [ExpectedKey; 32] = {
    let mut keys = [const { ExpectedKey::new("") }; 32];
    let mut i = 0;
    while i < 32 {
        keys[i] = ExpectedKey::new(TOP_ORDER[i].name());
        i += 1;
    }
    keys
};

impl Top {
    const fn name(self) -> &'static str {
        match self {
            Top::EventTime => "eventTime",
            Top::EventVersion => "eventVersion",
            Top::EventSource => "eventSource",
            Top::EventName => "eventName",
            Top::AwsRegion => "awsRegion",
            Top::SourceIpAddress => "sourceIPAddress",
            Top::UserAgent => "userAgent",
            Top::ErrorCode => "errorCode",
            Top::ErrorMessage => "errorMessage",
            Top::RequestId => "requestID",
            Top::EventId => "eventID",
            Top::EventType => "eventType",
            Top::ApiVersion => "apiVersion",
            Top::RecipientAccountId => "recipientAccountId",
            Top::SharedEventId => "sharedEventID",
            Top::VpcEndpointId => "vpcEndpointId",
            Top::VpcEndpointAccountId => "vpcEndpointAccountId",
            Top::EventCategory => "eventCategory",
            Top::ManagementEvent => "managementEvent",
            Top::ReadOnly => "readOnly",
            Top::SessionCredentialFromConsole => "sessionCredentialFromConsole",
            Top::RequestParameters => "requestParameters",
            Top::ResponseElements => "responseElements",
            Top::AdditionalEventData => "additionalEventData",
            Top::ServiceEventDetails => "serviceEventDetails",
            Top::Addendum => "addendum",
            Top::EdgeDeviceDetails => "edgeDeviceDetails",
            Top::InsightDetails => "insightDetails",
            Top::EventContext => "eventContext",
            Top::UserIdentity => "userIdentity",
            Top::TlsDetails => "tlsDetails",
            Top::Resources => "resources",
        }
    }

    fn bit(self) -> u64 {
        1 << self as u64
    }
}

/// The `actor` and `role_name` of a row, borrowing from the record when its
/// identity strings are borrowed (the usual case: no escapes).
fn derive_actor<'a>(row: &EventRow<'a>) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
    fn long<'a>(c: &Option<Cow<'a, str>>) -> Option<&'a str> {
        match c {
            Some(Cow::Borrowed(s)) => Some(s),
            _ => None,
        }
    }
    let fields = [
        &row.user_identity_type,
        &row.user_identity_arn,
        &row.user_identity_user_name,
        &row.user_identity_principal_id,
        &row.user_identity_account_id,
        &row.user_identity_invoked_by,
        &row.on_behalf_of_user_id,
        &row.session_issuer_type,
        &row.session_issuer_user_name,
        &row.on_behalf_of_subject,
        &row.on_behalf_of_subject_type,
    ];
    if fields.iter().all(|f| !matches!(f, Some(Cow::Owned(_)))) {
        let id = Identity {
            kind: long(fields[0]),
            arn: long(fields[1]),
            user_name: long(fields[2]),
            principal_id: long(fields[3]),
            account_id: long(fields[4]),
            invoked_by: long(fields[5]),
            on_behalf_of_user_id: long(fields[6]),
            session_issuer_type: long(fields[7]),
            session_issuer_user_name: long(fields[8]),
            on_behalf_of_subject: long(fields[9]),
            on_behalf_of_subject_type: long(fields[10]),
        };
        return actor(&id);
    }
    let id = Identity {
        kind: fields[0].as_deref(),
        arn: fields[1].as_deref(),
        user_name: fields[2].as_deref(),
        principal_id: fields[3].as_deref(),
        account_id: fields[4].as_deref(),
        invoked_by: fields[5].as_deref(),
        on_behalf_of_user_id: fields[6].as_deref(),
        session_issuer_type: fields[7].as_deref(),
        session_issuer_user_name: fields[8].as_deref(),
        on_behalf_of_subject: fields[9].as_deref(),
        on_behalf_of_subject_type: fields[10].as_deref(),
    };
    let (who, role) = actor(&id);
    (
        who.map(|c| Cow::Owned(c.into_owned())),
        role.map(|c| Cow::Owned(c.into_owned())),
    )
}

fn json_kind(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'n') => "null",
        Some(b't') | Some(b'f') => "a boolean",
        _ => "a number",
    }
}

/// Set a text column; `false` when the value is an object or array.
fn text_into<'a>(slot: &mut Option<Cow<'a, str>>, value: Raw<'a>) -> bool {
    match as_text(value) {
        Ok(v) => {
            *slot = v;
            true
        }
        Err(()) => false,
    }
}

fn bool_into(slot: &mut Option<bool>, value: Raw<'_>) -> bool {
    match as_bool(value) {
        Ok(v) => {
            *slot = v;
            true
        }
        Err(()) => false,
    }
}

fn json_into<'a>(slot: &mut Option<Cow<'a, str>>, value: Raw<'a>) -> bool {
    *slot = as_json(value).map(Cow::Borrowed);
    true
}

/// A value of the wrong kind for a walk: `null` fits (no columns), anything
/// else goes to `additional_fields` as written.
fn null_fits<'a>(member: Member<'_, 'a>) -> Result<(bool, Raw<'a>), JsonError> {
    let raw = member.raw()?;
    Ok((raw.get() == "null", raw))
}

/// Walk a nested object in place (`null` fits too); whether every member
/// fit its column, and the value's text for `additional_fields` when not.
/// Keys usually come in the order of `expected` (see
/// [`object_members_predicted`]; `&[]` for objects too rare to bother);
/// `f` gets each key's name.
fn walk_in<'a>(
    member: Member<'_, 'a>,
    expected: &[ExpectedKey],
    mut f: impl FnMut(&str, Member<'_, 'a>) -> Result<bool, JsonError>,
) -> Result<(bool, Raw<'a>), JsonError> {
    if !member.is_object() {
        return null_fits(member);
    }
    let mut ok = true;
    let raw = member.walk(expected, |k, v| {
        ok &= f(&k.name(expected), v)?;
        Ok(())
    })?;
    Ok((ok, raw))
}

/// `userIdentity` keys in the order CloudTrail writes them.
static USER_IDENTITY_KEYS: [ExpectedKey; 12] = [
    ExpectedKey::new("type"),
    ExpectedKey::new("principalId"),
    ExpectedKey::new("arn"),
    ExpectedKey::new("accountId"),
    ExpectedKey::new("accessKeyId"),
    ExpectedKey::new("userName"),
    ExpectedKey::new("sessionContext"),
    ExpectedKey::new("invokedBy"),
    ExpectedKey::new("identityProvider"),
    ExpectedKey::new("credentialId"),
    ExpectedKey::new("onBehalfOf"),
    ExpectedKey::new("inScopeOf"),
];

/// `sessionContext` keys in the order CloudTrail writes them.
static SESSION_CONTEXT_KEYS: [ExpectedKey; 6] = [
    ExpectedKey::new("sessionIssuer"),
    ExpectedKey::new("webIdFederationData"),
    ExpectedKey::new("attributes"),
    ExpectedKey::new("sourceIdentity"),
    ExpectedKey::new("ec2RoleDelivery"),
    ExpectedKey::new("assumedRoot"),
];

/// `sessionContext.attributes` keys.
static ATTRIBUTES_KEYS: [ExpectedKey; 2] = [
    ExpectedKey::new("creationDate"),
    ExpectedKey::new("mfaAuthenticated"),
];

/// `sessionContext.sessionIssuer` keys.
static SESSION_ISSUER_KEYS: [ExpectedKey; 5] = [
    ExpectedKey::new("type"),
    ExpectedKey::new("principalId"),
    ExpectedKey::new("arn"),
    ExpectedKey::new("accountId"),
    ExpectedKey::new("userName"),
];

/// `tlsDetails` keys.
static TLS_KEYS: [ExpectedKey; 3] = [
    ExpectedKey::new("tlsVersion"),
    ExpectedKey::new("cipherSuite"),
    ExpectedKey::new("clientProvidedHostHeader"),
];

/// Flatten `userIdentity`. When any part does not fit its column, the caller
/// also keeps the whole object in `additional_fields`.
fn user_identity<'a>(
    row: &mut EventRow<'a>,
    member: Member<'_, 'a>,
) -> Result<(bool, Raw<'a>), JsonError> {
    walk_in(member, &USER_IDENTITY_KEYS, |k, v| {
        Ok(match k {
            "type" => text_into(&mut row.user_identity_type, v.raw()?),
            "principalId" => text_into(&mut row.user_identity_principal_id, v.raw()?),
            "arn" => text_into(&mut row.user_identity_arn, v.raw()?),
            "accountId" => text_into(&mut row.user_identity_account_id, v.raw()?),
            "accessKeyId" => text_into(&mut row.user_identity_access_key_id, v.raw()?),
            "userName" => text_into(&mut row.user_identity_user_name, v.raw()?),
            "invokedBy" => text_into(&mut row.user_identity_invoked_by, v.raw()?),
            "identityProvider" => text_into(&mut row.user_identity_identity_provider, v.raw()?),
            "credentialId" => text_into(&mut row.user_identity_credential_id, v.raw()?),
            "inScopeOf" => json_into(&mut row.in_scope_of, v.raw()?),
            "onBehalfOf" => {
                walk_in(v, &[], |k, v| {
                    Ok(match k {
                        "userId" => text_into(&mut row.on_behalf_of_user_id, v.raw()?),
                        "identityStoreArn" => {
                            text_into(&mut row.on_behalf_of_identity_store_arn, v.raw()?)
                        }
                        "subject" => text_into(&mut row.on_behalf_of_subject, v.raw()?),
                        "subjectType" => text_into(&mut row.on_behalf_of_subject_type, v.raw()?),
                        "issuer" => text_into(&mut row.on_behalf_of_issuer, v.raw()?),
                        _ => false,
                    })
                })?
                .0
            }
            "sessionContext" => session_context(row, v)?,
            _ => false,
        })
    })
}

/// `userIdentity.sessionContext`, in place.
fn session_context<'a>(row: &mut EventRow<'a>, member: Member<'_, 'a>) -> Result<bool, JsonError> {
    let (fits, _) = walk_in(member, &SESSION_CONTEXT_KEYS, |k, v| {
        Ok(match k {
            "attributes" => {
                walk_in(v, &ATTRIBUTES_KEYS, |k, v| {
                    Ok(match k {
                        "creationDate" => match scalar(v.raw()?) {
                            Scalar::Null => true,
                            Scalar::Str(s) => {
                                row.user_identity_session_creation_date = parse_millis(&s);
                                row.user_identity_session_creation_date.is_some()
                            }
                            _ => false,
                        },
                        "mfaAuthenticated" => {
                            bool_into(&mut row.user_identity_mfa_authenticated, v.raw()?)
                        }
                        _ => false,
                    })
                })?
                .0
            }
            "sessionIssuer" => {
                walk_in(v, &SESSION_ISSUER_KEYS, |k, v| {
                    Ok(match k {
                        "type" => text_into(&mut row.session_issuer_type, v.raw()?),
                        "principalId" => text_into(&mut row.session_issuer_principal_id, v.raw()?),
                        "arn" => text_into(&mut row.session_issuer_arn, v.raw()?),
                        "accountId" => text_into(&mut row.session_issuer_account_id, v.raw()?),
                        "userName" => text_into(&mut row.session_issuer_user_name, v.raw()?),
                        _ => false,
                    })
                })?
                .0
            }
            "webIdFederationData" => {
                walk_in(v, &[], |k, v| {
                    Ok(match k {
                        "federatedProvider" => {
                            text_into(&mut row.web_id_federation_provider, v.raw()?)
                        }
                        "attributes" => json_into(&mut row.web_id_federation_attributes, v.raw()?),
                        _ => false,
                    })
                })?
                .0
            }
            "sourceIdentity" => text_into(&mut row.user_identity_source_identity, v.raw()?),
            "ec2RoleDelivery" => text_into(&mut row.user_identity_ec2_role_delivery, v.raw()?),
            "assumedRoot" => text_into(&mut row.user_identity_assumed_root, v.raw()?),
            _ => false,
        })
    })?;
    Ok(fits)
}

fn tls_details<'a>(
    row: &mut EventRow<'a>,
    member: Member<'_, 'a>,
) -> Result<(bool, Raw<'a>), JsonError> {
    walk_in(member, &TLS_KEYS, |k, v| {
        Ok(match k {
            "tlsVersion" => text_into(&mut row.tls_version, v.raw()?),
            "cipherSuite" => text_into(&mut row.tls_cipher_suite, v.raw()?),
            "clientProvidedHostHeader" => {
                text_into(&mut row.tls_client_provided_host_header, v.raw()?)
            }
            _ => false,
        })
    })
}

fn resources<'a>(
    row: &mut EventRow<'a>,
    member: Member<'_, 'a>,
) -> Result<(bool, Raw<'a>), JsonError> {
    if !member.is_array() {
        return null_fits(member);
    }
    let mut ok = true;
    let mut out = Vec::new();
    let raw = member.elements(|item| {
        let mut r = Resource::default();
        let (fits, _) = walk_in(item, &[], |k, v| {
            Ok(match k {
                "ARN" | "arn" => text_into(&mut r.arn, v.raw()?),
                "ARNPrefix" | "arnPrefix" => text_into(&mut r.arn_prefix, v.raw()?),
                "accountId" => text_into(&mut r.account_id, v.raw()?),
                "type" => text_into(&mut r.kind, v.raw()?),
                _ => false,
            })
        })?;
        ok &= fits;
        out.push(r);
        Ok(())
    })?;
    row.resources = Some(out);
    Ok((ok, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_order_holds_every_key_once() {
        let bits = TOP_ORDER.iter().fold(0u64, |acc, t| {
            assert_eq!(acc & t.bit(), 0, "{t:?} twice");
            acc | t.bit()
        });
        assert_eq!(bits, u64::from(u32::MAX));
        for (key, top) in TOP_KEYS.iter().zip(TOP_ORDER) {
            assert_eq!(key.name(), top.name());
        }
    }

    fn origin() -> Origin<'static> {
        Origin {
            key: "k.json.gz",
            index: 3,
            fallback_day: Some(10),
            redact: false,
        }
    }

    #[test]
    fn known_fields_land_in_columns() {
        let text = r#"{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","principalId":"AROA:me","arn":"arn:aws:sts::111122223333:assumed-role/Admin/me@example.com","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","userName":"Admin"},"webIdFederationData":{},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"true"}},"invokedBy":"athena.amazonaws.com"},"eventTime":"2024-01-01T00:00:01Z","eventSource":"glue.amazonaws.com","eventName":"GetTable","readOnly":true,"managementEvent":"false","requestParameters":{"databaseName":"db", "name":"t"},"responseElements":null,"resources":[{"ARN":"arn:1","accountId":"1","type":"T"},{"ARNPrefix":"arn:2/"}],"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"X","clientProvidedHostHeader":"h"},"recipientAccountId":111122223333}"#;
        let (row, len) = flatten(text, &origin()).unwrap();
        assert_eq!(len, text.len());
        assert_eq!(row.event_time, Some(1_704_067_201_000));
        assert_eq!(row.event_date, Some(19_723));
        assert_eq!(row.actor.as_deref(), Some("me@example.com"));
        assert_eq!(row.role_name.as_deref(), Some("Admin"));
        assert_eq!(row.user_identity_mfa_authenticated, Some(true));
        assert_eq!(row.management_event, Some(false));
        assert_eq!(
            row.request_parameters.as_deref(),
            Some(r#"{"databaseName":"db", "name":"t"}"#)
        );
        assert_eq!(row.response_elements, None);
        assert_eq!(row.recipient_account_id.as_deref(), Some("111122223333"));
        assert_eq!(row.tls_client_provided_host_header.as_deref(), Some("h"));
        assert_eq!(row.resources.as_ref().map(|r| r.len()), Some(2));
        assert_eq!(row.additional_fields, None, "everything fitted");
    }

    #[test]
    fn unknown_and_misfit_fields_are_kept() {
        let text = r#"{"eventTime":"not a time","readOnly":"maybe","newField":{"x":[1]},"userIdentity":{"type":"IAMUser","userName":"u","futureKey":1},"eventName":{"odd":true}}"#;
        let (row, len) = flatten(text, &origin()).unwrap();
        assert_eq!(len, text.len());
        let extra: serde_json::Value =
            serde_json::from_str(row.additional_fields.as_deref().unwrap()).unwrap();
        assert_eq!(extra["eventTime"], "not a time");
        assert_eq!(extra["readOnly"], "maybe");
        assert_eq!(extra["newField"]["x"][0], 1);
        assert_eq!(extra["userIdentity"]["futureKey"], 1);
        assert_eq!(extra["eventName"]["odd"], true);
        assert_eq!(
            row.user_identity_user_name.as_deref(),
            Some("u"),
            "the parts that fit still land"
        );
        assert_eq!(row.event_time, None);
        assert_eq!(row.event_date, Some(10), "falls back to the delivery date");
    }

    #[test]
    fn records_that_are_not_objects() {
        for (text, want) in [
            ("42", "a number"),
            ("[1]", "an array"),
            ("null", "null"),
            (r#"{"a":"#, "not valid JSON"),
        ] {
            let e = flatten(text, &origin()).unwrap_err();
            assert_eq!(e.index, 3);
            assert!(e.reason.contains(want), "{text}: {}", e.reason);
        }
    }

    #[test]
    fn nested_objects_walked_in_place_keep_their_exact_text() {
        // A misfit deep in sessionContext keeps the whole userIdentity, as written.
        let identity = r#"{"type":"AssumedRole", "sessionContext":{"sessionIssuer":{"type":"Role","userName":"R","new":[1, {"a":"}"}]},"attributes":{"mfaAuthenticated":"false"}},"arn":"arn:x"}"#;
        let text = format!(r#"{{"userIdentity":{identity},"tlsDetails":null,"eventName":"E"}}"#);
        let (row, len) = flatten(&text, &origin()).unwrap();
        assert_eq!(len, text.len());
        assert_eq!(row.session_issuer_user_name.as_deref(), Some("R"));
        assert_eq!(row.user_identity_mfa_authenticated, Some(false));
        assert_eq!(
            row.user_identity_arn.as_deref(),
            Some("arn:x"),
            "members after the misfit land"
        );
        assert_eq!(row.event_name.as_deref(), Some("E"));
        assert_eq!(
            row.additional_fields.as_deref(),
            Some(format!(r#"{{"userIdentity":{identity}}}"#).as_str())
        );

        // Objects that are not objects, and null.
        let text = r#"{"userIdentity":"someone","tlsDetails":{"tlsVersion":"TLSv1.2"}}"#;
        let (row, _) = flatten(text, &origin()).unwrap();
        assert_eq!(
            row.additional_fields.as_deref(),
            Some(r#"{"userIdentity":"someone"}"#)
        );
        assert_eq!(row.tls_version.as_deref(), Some("TLSv1.2"));
        let (row, _) = flatten(r#"{"userIdentity":null}"#, &origin()).unwrap();
        assert_eq!(row.additional_fields, None);

        // A syntax error inside a walked object fails the record, at its offset.
        for bad in [
            r#"{"userIdentity":{"sessionContext":{"sessionIssuer":{"type":"Role",}}}}"#,
            r#"{"userIdentity":{"type":"A" "arn":"b"}}"#,
            r#"{"tlsDetails":{"tlsVersion":tru}}"#,
            r#"{"userIdentity":{"type":"A"}"#,
        ] {
            let e = flatten(bad, &origin()).unwrap_err();
            assert!(e.reason.contains("not valid JSON"), "{bad}: {}", e.reason);
        }
        // A duplicate walked key goes to additional_fields whole.
        let text = r#"{"userIdentity":{"type":"A"},"userIdentity":{"type":"B"}}"#;
        let (row, _) = flatten(text, &origin()).unwrap();
        assert_eq!(row.user_identity_type.as_deref(), Some("A"));
        assert_eq!(
            row.additional_fields.as_deref(),
            Some(r#"{"userIdentity":{"type":"B"}}"#)
        );
    }

    #[test]
    fn resources_are_walked_in_place() {
        let list = r#"[{"ARN":"arn:1","accountId":"1","type":"T"}, {"arnPrefix":"arn:2/","extra":[]},"odd",null]"#;
        let text = format!(r#"{{"resources":{list},"eventName":"E"}}"#);
        let (row, len) = flatten(&text, &origin()).unwrap();
        assert_eq!(len, text.len());
        let got = row.resources.unwrap();
        assert_eq!(got.len(), 4, "every element gives an entry");
        assert_eq!(got[0].arn.as_deref(), Some("arn:1"));
        assert_eq!(got[0].kind.as_deref(), Some("T"));
        assert_eq!(got[1].arn_prefix.as_deref(), Some("arn:2/"));
        assert_eq!(got[2], Resource::default());
        assert_eq!(
            row.additional_fields.as_deref(),
            Some(format!(r#"{{"resources":{list}}}"#).as_str()),
            "a misfit keeps the list as written"
        );
        let (row, _) = flatten(r#"{"resources":[]}"#, &origin()).unwrap();
        assert_eq!(row.resources, Some(vec![]));
        assert_eq!(row.additional_fields, None);
        let (row, _) = flatten(r#"{"resources":{"ARN":"a"}}"#, &origin()).unwrap();
        assert_eq!(row.resources, None);
        assert_eq!(
            row.additional_fields.as_deref(),
            Some(r#"{"resources":{"ARN":"a"}}"#)
        );
        for bad in [
            r#"{"resources":[{"ARN":"a"},]}"#,
            r#"{"resources":[{"ARN":"a"}"#,
        ] {
            let e = flatten(bad, &origin()).unwrap_err();
            assert!(e.reason.contains("not valid JSON"), "{bad}: {}", e.reason);
        }
    }

    /// A record with every walked shape: nested identity, TLS, resources,
    /// free-form parameters, escapes, numbers and literals.
    const RECORD: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/R/s","accountId":"1","sessionContext":{"sessionIssuer":{"type":"Role","userName":"R"},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-01-01T00:00:01Z","eventName":"GetTable","requestParameters":{"databaseName":"d\"b","name":"t","n":[1,-2.5e3,true,null,{}]},"resources":[{"ARN":"arn:1","type":"T"}],"tlsDetails":{"tlsVersion":"TLSv1.3"},"readOnly":true}"#;

    proptest::proptest! {
        /// Mutated records: flatten accepts exactly what serde_json accepts as
        /// an object at the start of the text (never panics, never more lenient),
        /// and on success ends where serde_json's first value ends.
        #[test]
        fn mutated_records_are_judged_like_serde_json(
            edits in proptest::collection::vec(
                (0usize..560, proptest::sample::select(vec!["", "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "1", "-", ".", "e", "n", "t", "\u{1}", "x", "é"])),
                1..4,
            ),
        ) {
            let mut text = RECORD.to_string();
            for (at, insert) in edits {
                let mut at = at.min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if insert.is_empty() {
                    // Delete the character there.
                    if let Some(c) = text[at..].chars().next() {
                        text.replace_range(at..at + c.len_utf8(), "");
                    }
                } else {
                    text.insert_str(at, insert);
                }
            }
            let mut values = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
            let first = values.next();
            let want = match first {
                Some(Ok(serde_json::Value::Object(_))) => Some(values.byte_offset()),
                _ => None,
            };
            let got = flatten(&text, &origin()).ok().map(|(_, len)| len);
            proptest::prop_assert_eq!(got, want, "{}", text);
        }
    }
}
