#!/usr/bin/env bash
# smoke-api.sh BASE_URL: the public API answers its health check, the smoke
# account (SMOKE_EMAIL, SMOKE_PASSWORD: Jenkins credential smoke-account,
# from Vault) logs in through the gateway, and one synthetic payment is
# scored by fraud with its token. The account is registered on first use.
set -euo pipefail
base=${1:?usage: smoke-api.sh BASE_URL}
: "${SMOKE_EMAIL:?the smoke account's email}" "${SMOKE_PASSWORD:?the smoke account's password}"
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
credentials="{\"email\":$(json_string "$SMOKE_EMAIL"),\"password\":$(json_string "$SMOKE_PASSWORD")"
curl_json() { curl --silent --show-error --max-time 10 -H 'Content-Type: application/json' "$@"; }

curl --fail --silent --show-error --max-time 10 "$base/api/health" > /dev/null
code=$(curl_json -o /dev/null -w '%{http_code}' -d "$credentials,\"name\":\"smoke test\"}" "$base/auth/register")
if [[ $code != 201 && $code != 409 ]]; then
  echo "smoke: registering the smoke account answered $code" >&2
  exit 1
fi
token=$(curl_json --fail -d "$credentials}" "$base/auth/login" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
if [[ -z $token ]]; then
  echo "smoke: the smoke account could not log in" >&2
  exit 1
fi
curl_json --fail -o /dev/null -H "Authorization: Bearer $token" \
  -d '{"transaction_id":"smoke-test","card_id":"smoke","amount":1,"merchant_id":"smoke"}' \
  "$base/api/v1/fraud/score"
echo "smoke: $base is serving"
