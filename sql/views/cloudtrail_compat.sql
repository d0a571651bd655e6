-- The events table under the column names and types of AWS's own CloudTrail
-- table for Athena (eventtime, useridentity.sessioncontext.sessionissuer.username,
-- requestparameters, ...), so existing saved queries keep working: point
-- them at this view instead of the raw-JSON table. Times are ISO-8601 strings
-- and flags are 'true'/'false' strings, as in that table. Not deduplicated,
-- like the raw table. Keep `event_date` in your filters: it prunes partitions.
--
-- Example: an existing query, unchanged but for the table name.
--   SELECT useridentity.arn, eventname, count(*) AS calls
--   FROM cloudtrail_compat
--   WHERE event_date >= '2026-03-01' AND errorcode = 'AccessDenied'
--   GROUP BY 1, 2 ORDER BY calls DESC;
CREATE OR REPLACE VIEW cloudtrail_compat AS
SELECT
  event_version AS eventversion,
  CAST(
    ROW(
      user_identity_type,
      user_identity_principal_id,
      user_identity_arn,
      user_identity_account_id,
      user_identity_invoked_by,
      user_identity_access_key_id,
      user_identity_user_name,
      ROW(on_behalf_of_user_id, on_behalf_of_identity_store_arn),
      ROW(
        ROW(
          CAST(user_identity_mfa_authenticated AS varchar),
          date_format(user_identity_session_creation_date, '%Y-%m-%dT%H:%i:%sZ')
        ),
        ROW(session_issuer_type, session_issuer_principal_id, session_issuer_arn, session_issuer_account_id, session_issuer_user_name),
        user_identity_ec2_role_delivery,
        ROW(web_id_federation_provider)
      )
    ) AS ROW(
      type varchar,
      principalid varchar,
      arn varchar,
      accountid varchar,
      invokedby varchar,
      accesskeyid varchar,
      username varchar,
      onbehalfof ROW(userid varchar, identitystorearn varchar),
      sessioncontext ROW(
        attributes ROW(mfaauthenticated varchar, creationdate varchar),
        sessionissuer ROW(type varchar, principalid varchar, arn varchar, accountid varchar, username varchar),
        ec2roledelivery varchar,
        webidfederationdata ROW(federatedprovider varchar)
      )
    )
  ) AS useridentity,
  date_format(event_time, '%Y-%m-%dT%H:%i:%sZ') AS eventtime,
  event_source AS eventsource,
  event_name AS eventname,
  aws_region AS awsregion,
  source_ip_address AS sourceipaddress,
  user_agent AS useragent,
  error_code AS errorcode,
  error_message AS errormessage,
  request_parameters AS requestparameters,
  response_elements AS responseelements,
  additional_event_data AS additionaleventdata,
  request_id AS requestid,
  event_id AS eventid,
  CAST(read_only AS varchar) AS readonly,
  transform(
    resources,
    r -> CAST(ROW(coalesce(r.arn, r.arn_prefix), r.account_id, r.type) AS ROW(arn varchar, accountid varchar, type varchar))
  ) AS resources,
  event_type AS eventtype,
  api_version AS apiversion,
  recipient_account_id AS recipientaccountid,
  service_event_details AS serviceeventdetails,
  shared_event_id AS sharedeventid,
  vpc_endpoint_id AS vpcendpointid,
  vpc_endpoint_account_id AS vpcendpointaccountid,
  event_category AS eventcategory,
  CAST(
    ROW(
      json_extract_scalar(addendum, '$.reason'),
      json_extract_scalar(addendum, '$.updatedFields'),
      json_extract_scalar(addendum, '$.originalRequestID'),
      json_extract_scalar(addendum, '$.originalEventID')
    ) AS ROW(reason varchar, updatedfields varchar, originalrequestid varchar, originaleventid varchar)
  ) AS addendum,
  CAST(session_credential_from_console AS varchar) AS sessioncredentialfromconsole,
  edge_device_details AS edgedevicedetails,
  CAST(
    ROW(tls_version, tls_cipher_suite, tls_client_provided_host_header)
    AS ROW(tlsversion varchar, ciphersuite varchar, clientprovidedhostheader varchar)
  ) AS tlsdetails,
  event_date
FROM events
