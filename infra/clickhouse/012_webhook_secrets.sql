-- Webhook hardening (#14): signing secrets encrypted at rest, a rotated secret kept valid
-- for a while, and no receiver response bodies in the delivery history.
--
-- The plain-text column `secret` stays (an applied migration's table is not rebuilt), but is
-- written empty from now on. Rows written before this migration still hold their secret
-- in plain text there: SQL cannot encrypt them (the key is not in the database), so the
-- webhook dispatcher does it when it starts (WebhookStore.seal_plaintext_secrets: a new,
-- encrypted version of each such row, then a mutation that blanks `secret` in every
-- stored version). Until then the store reads the plain-text secret, so deliveries go on.

ALTER TABLE webhook_subscriptions
    ADD COLUMN IF NOT EXISTS secret_sealed String DEFAULT ''
        COMMENT 'Signing secret, AES-256-GCM under CXPULSE_SECRET_KEY with the subscription id as associated data (v1.<key id>.<base64url nonce+ciphertext>); empty in a deletion row' AFTER secret,
    ADD COLUMN IF NOT EXISTS previous_secret_sealed String DEFAULT ''
        COMMENT 'The secret before the latest rotation, sealed the same way; it still signs until previous_secret_until' AFTER secret_sealed,
    ADD COLUMN IF NOT EXISTS previous_secret_until DateTime64(3, 'UTC') DEFAULT 0
        COMMENT 'When the previous secret stops signing (rotation + 24 h); 1970 when there is none' AFTER previous_secret_sealed;

ALTER TABLE webhook_subscriptions
    COMMENT COLUMN secret 'Legacy plain-text signing secret (before migration 012): always empty now, see secret_sealed';

-- Error answers' bodies were kept in the first 200 characters of the error
-- ("HTTP 403: <body>"): an internal service's page shown to the tenant. Keep the status only.
ALTER TABLE webhook_deliveries
    UPDATE last_error = extract(last_error, '^HTTP [0-9]{3}')
    WHERE match(last_error, '^HTTP [0-9]{3}: ')
    SETTINGS mutations_sync = 2;

ALTER TABLE webhook_attempts
    UPDATE error = extract(error, '^HTTP [0-9]{3}')
    WHERE match(error, '^HTTP [0-9]{3}: ')
    SETTINGS mutations_sync = 2;
