-- PostGraphile's adjustPoints in `make bench` (bench/http_bench.py creates it in the bench database
-- only: it is not one of our migrations). It does what our adjustPoints ADD does, in the transaction
-- PostGraphile opens for the mutation: the account found with a holder not deleted, the balance moved
-- by one guarded UPDATE that also takes the ledger's next sequence number, the ledger row, and the
-- activity-log entry (details as ours writes them). Like the floor, it takes the caller from the
-- request (actor_id: the owner the benchmark signs in as) instead of verifying a token.
-- Exposed by PostGraphile as
--   adjustPoints(input: {accountId, amount, actorId}) { pointsTransaction pointsAccountByAccountId }
CREATE OR REPLACE FUNCTION adjust_points(account_id uuid, amount bigint, actor_id uuid)
RETURNS points_transactions
LANGUAGE plpgsql VOLATILE STRICT
AS $$
#variable_conflict use_column
DECLARE
    new_balance bigint;
    new_seq bigint;
    ledger_row points_transactions;
BEGIN
    IF adjust_points.amount < 1 THEN
        RAISE EXCEPTION 'the amount must be at least 1' USING ERRCODE = '22023';
    END IF;
    PERFORM FROM points_accounts JOIN users ON users.id = points_accounts.user_id
    WHERE points_accounts.id = adjust_points.account_id AND users.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such points account' USING ERRCODE = 'P0002';
    END IF;

    UPDATE points_accounts
    SET balance = points_accounts.balance + adjust_points.amount,
        ledger_seq = nextval('points_transactions_seq_seq')
    WHERE points_accounts.id = adjust_points.account_id
      AND points_accounts.balance <= 1000000000000 - adjust_points.amount
    RETURNING points_accounts.balance, points_accounts.ledger_seq INTO new_balance, new_seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the balance would pass 1000000000000' USING ERRCODE = '22003';
    END IF;

    INSERT INTO points_transactions (seq, id, account_id, kind, amount, balance_after, actor_id, created_at)
    VALUES (new_seq, gen_random_uuid(), adjust_points.account_id, 'ADD', adjust_points.amount, new_balance,
            adjust_points.actor_id::text, now())
    RETURNING * INTO ledger_row;

    INSERT INTO log_entries (id, timestamp, action, outcome, actor_id, actor_email, actor_role, target_type,
                             target_id, details, request_id)
    SELECT gen_random_uuid(), now(), 'points.adjust', 'SUCCESS', users.id::text, users.email, users.role,
           'points_account', adjust_points.account_id::text,
           json_build_object('action', 'ADD', 'amount', adjust_points.amount, 'reason', NULL,
                             'idempotencyKey', NULL, 'transactionId', ledger_row.id,
                             'before', json_build_object('balance', new_balance - adjust_points.amount),
                             'after', json_build_object('balance', new_balance)),
           replace(gen_random_uuid()::text, '-', '')
    FROM users WHERE users.id = adjust_points.actor_id AND users.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such caller' USING ERRCODE = '28000';
    END IF;

    RETURN ledger_row;
END
$$;
