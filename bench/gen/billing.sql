-- The billing ledger tables with deterministic values: every value derives
-- from hashint8extended(id, k). Shared by bench/gen/gen_billing.sh and
-- parquetize/tests/support/gen_billing_pg.sh. credits and charges carry the
-- awkward values; the rest of the billing archive specification's tables
-- (google_play_purchases, llm_usage_logs, admin_audit_logs, credit_checks,
-- and accounts for the snapshot) are smaller, so scripts/archive-billing.sh
-- finds every table it archives by default.
-- Variables: :charges_rows, :credits_rows (psql -v).
set max_parallel_workers_per_gather = 0;
drop table if exists charges;
drop table if exists credits;
drop table if exists google_play_purchases;
drop table if exists llm_usage_logs;
drop table if exists admin_audit_logs;
drop table if exists credit_checks;
drop table if exists accounts;

-- h(id,k): deterministic non-negative pseudo-random bigint
create or replace function h(bigint, bigint) returns bigint language sql immutable parallel safe
  as 'select hashint8extended($1, $2) & 9223372036854775807';

create table credits (
  id          bigint primary key,
  account_id  uuid not null,
  amount      numeric(18,6) not null,
  currency    text not null,
  reason      text,               -- commas, quotes, newlines, '' and NULL
  created_at  timestamptz not null,
  metadata    jsonb,
  refunded    boolean             -- nullable: true/false/NULL
);

create table charges (
  id            bigint primary key,
  account_id    uuid not null,
  invoice_id    bigint,             -- ~10% NULL
  amount        numeric(18,6),      -- ~2% NULL, ~1% with 17-18 significant digits, some negative
  quantity      integer,            -- ~3% NULL
  unit_price    numeric(18,6),
  fx_rate       numeric,            -- unconstrained numeric: up to 20 fractional digits, NULL for USD
  currency      text not null,
  country       char(2),            -- includes 'NA' (Namibia) which many CSV readers turn into NULL
  description   text,               -- '' vs NULL, 'NULL'/'N/A' literal strings, commas, quotes, newlines, tabs, backslashes, unicode
  billing_period date,
  created_at    timestamptz not null,  -- microsecond precision
  settled_at    timestamptz,        -- ~20% NULL
  metadata      jsonb,              -- ~5% NULL
  refunded      boolean             -- ~30% NULL
);

insert into credits
select g,
  md5('acct' || (h(g,1) % 20000))::uuid,
  round((h(g,2) % 500000000)::numeric / 1000000, 6),
  (array['USD','USD','USD','EUR','GBP','JPY'])[1 + h(g,3) % 6],
  case h(g,4) % 10
    when 0 then ''
    when 1 then null
    when 2 then 'Goodwill credit, ticket #' || (h(g,5) % 100000) || ', approved'
    when 3 then 'Promo "SUMMER25" applied'
    when 4 then E'Refund for outage\nIncident INC-' || (h(g,5) % 9999) || E'\nRoot cause: network'
    when 5 then E'Crédit commercial — 返金 ✅'
    else 'Prepaid credits purchase'
  end,
  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (h(g,6) % (200::bigint*86400*1000000))::double precision / 1000000),
  case when h(g,7) % 20 = 0 then null
       else jsonb_build_object('source', (array['sales','support','promo','api'])[1 + h(g,8) % 4],
                               'approved_by', 'user-' || (h(g,9) % 500),
                               'ids', jsonb_build_array(h(g,10) % 1000, h(g,11) % 1000)) end,
  case h(g,12) % 10 when 0 then true when 1 then null when 2 then null else false end
from generate_series(1, :credits_rows) g;

insert into charges
select g,
  md5('acct' || (h(g,1) % 20000))::uuid,
  case when h(g,2) % 10 = 0 then null else 1000000 + h(g,3) % 9000000 end,
  case
    when h(g,4) % 50 = 0 then null                                                        -- 2% NULL
    when h(g,4) % 100 = 1 then (h(g,5) % 1000000000000000000)::numeric / 1000000          -- up to 999999999999.999999
    when h(g,4) % 100 = 3 then -round((h(g,5) % 100000000)::numeric / 1000000, 6)         -- negative adjustment
    when h(g,4) % 100 = 5 then (array[0.1, 0.2, 0.3, 0.000001, 1e-6, 100.10])[1 + h(g,6) % 6]::numeric
    else round((h(g,5) % 10000000000)::numeric / 1000000, 6)                               -- 0 .. 9999.999999
  end,
  case when h(g,7) % 33 = 0 then null else (1 + h(g,8) % 1000)::int end,
  round((h(g,9) % 100000000)::numeric / 1000000, 6),
  null,  -- fx_rate, filled below from currency
  (array['USD','USD','USD','USD','EUR','EUR','GBP','JPY','CHF','NAD'])[1 + h(g,10) % 10],
  (array['US','US','US','DE','GB','JP','FR','NA','BR','IN'])[1 + h(g,11) % 10],
  case h(g,12) % 40
    when 0 then ''                                   -- empty string (not NULL)
    when 1 then null
    when 2 then 'NULL'                               -- the literal string NULL
    when 3 then 'N/A'
    when 4 then 'Usage: ' || (h(g,13) % 100000) || ' tokens, model gpt-4o, tier 2'
    when 5 then 'Seat licence "Enterprise" x' || (h(g,13) % 500)
    when 6 then E'Line 1 of invoice note\nLine 2, with comma\r\nLine 3 "quoted"'
    when 7 then E'tab\there\\and a backslash \\N not null'
    when 8 then E'Ünïcödé café — 日本語の請求書 😀'
    when 9 then '  padded with spaces  '
    when 10 then '\N'                                -- the two characters backslash + N
    when 11 then ','
    when 12 then '"'
    else 'Charge for ' || (array['API usage','ChatGPT Enterprise seats','Storage','Support plan','Fine-tuning'])[1 + h(g,14) % 5]
         || ' ' || to_char(date '2025-01-01' + (h(g,15) % 200)::int, 'YYYY-MM')
  end,
  date_trunc('month', date '2025-01-01' + (h(g,15) % 200)::int)::date,
  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (h(g,16) % (200::bigint*86400*1000000))::double precision / 1000000),
  null,
  case when h(g,17) % 20 = 0 then null
       else jsonb_build_object('sku', 'sku-' || (h(g,18) % 1000),
                               'region', (array['us-east-1','eu-west-1','ap-northeast-1'])[1 + h(g,19) % 3],
                               'labels', jsonb_build_array('batch', h(g,20) % 7),
                               'note', case when h(g,21) % 10 = 0 then 'has "quotes", commas' else null end) end,
  case h(g,22) % 10 when 0 then true when 1 then null when 2 then null when 3 then null else false end
from generate_series(1, :charges_rows) g;

update charges set
  fx_rate = case currency
              when 'USD' then null
              else 0.5 + (h(id,23) % 1000000000000000000)::numeric / 1000000000000000000
                       + (h(id,26) % 100)::numeric / 100000000000000000000 end,   -- 20 fractional digits
  settled_at = case when h(id,24) % 5 = 0 then null
                    else created_at + make_interval(secs => (h(id,25) % (30::bigint*86400))::double precision) end;

-- The specification's other ledger tables and the accounts snapshot, over
-- the same 200 days from 2025-01-01.
create table accounts (
  id         uuid primary key,
  name       text not null,
  country    char(2),
  created_at timestamptz not null,
  plan       text
);
insert into accounts
select md5('acct' || g)::uuid, 'Account ' || g, (array['US','NA','DE','JP'])[1 + h(g,1) % 4],
  timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => (h(g,2) % (365::bigint*86400))::double precision),
  case when h(g,3) % 5 = 0 then null else (array['enterprise','team','edu'])[1 + h(g,4) % 3] end
from generate_series(0, 19999) g;

create table google_play_purchases (
  id bigint primary key, account_id uuid not null, order_id text not null, product_id text not null,
  amount numeric(18,6) not null, currency text not null, purchase_token text, created_at timestamptz not null
);
insert into google_play_purchases
select g, md5('acct' || (h(g,1) % 20000))::uuid, 'GPA.' || (3300 + g) || '-' || (h(g,2) % 10000),
  (array['credits_100','credits_500','pro_monthly'])[1 + h(g,3) % 3],
  round((h(g,4) % 100000000)::numeric / 1000000, 6), (array['USD','EUR','JPY'])[1 + h(g,5) % 3],
  case when h(g,7) % 9 = 0 then null else md5('token' || g) end,
  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (h(g,6) % (200::bigint*86400*1000000))::double precision / 1000000)
from generate_series(1, greatest(:credits_rows / 5, 1)) g;

create table llm_usage_logs (
  id bigint primary key, account_id uuid not null, model text not null, prompt_tokens integer not null,
  completion_tokens integer not null, cost numeric(18,8), request_id uuid, created_at timestamptz not null
);
insert into llm_usage_logs
select g, md5('acct' || (h(g,1) % 20000))::uuid, (array['gpt-4o','gpt-4o-mini','o3'])[1 + h(g,2) % 3],
  (h(g,3) % 8000)::int, (h(g,4) % 4000)::int,
  case when h(g,5) % 50 = 0 then null else round((h(g,8) % 100000000)::numeric / 100000000, 8) end,
  md5('req' || g)::uuid,
  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (h(g,6) % (200::bigint*86400*1000000))::double precision / 1000000)
from generate_series(1, greatest(:charges_rows / 3, 1)) g;

create table admin_audit_logs (
  id bigint primary key, actor text not null, action text not null, target text, details jsonb,
  created_at timestamptz not null
);
insert into admin_audit_logs
select g, 'admin-' || (h(g,1) % 25), (array['credit.grant','account.suspend','refund.approve','plan.change'])[1 + h(g,2) % 4],
  case when h(g,3) % 6 = 0 then null else 'account:' || md5('acct' || (h(g,4) % 20000)) end,
  case when h(g,5) % 4 = 0 then null else jsonb_build_object('reason', 'ticket #' || g, 'note', E'line 1\nline 2') end,
  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (h(g,6) % (200::bigint*86400*1000000))::double precision / 1000000)
from generate_series(1, greatest(:credits_rows / 10, 1)) g;

create table credit_checks (
  id bigint primary key, account_id uuid not null, requested numeric(18,6) not null,
  available numeric(18,6) not null, allowed boolean not null, created_at timestamptz not null
);
insert into credit_checks
select g, md5('acct' || (h(g,1) % 20000))::uuid, round((h(g,2) % 10000000)::numeric / 1000000, 6),
  round((h(g,3) % 10000000)::numeric / 1000000, 6), h(g,4) % 5 <> 0,
  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (h(g,6) % (200::bigint*86400*1000000))::double precision / 1000000)
from generate_series(1, greatest(:credits_rows, 1)) g;

vacuum analyze charges;
vacuum analyze credits;
vacuum analyze accounts;
vacuum analyze google_play_purchases;
vacuum analyze llm_usage_logs;
vacuum analyze admin_audit_logs;
vacuum analyze credit_checks;
