#!/usr/bin/env bash
# `make run`: migrate the embedded SQLite database, load demo data, start the job worker and the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${MOBILECA_HOST:-127.0.0.1}
PORT=${MOBILECA_PORT:-8000}
export MOBILECA_PUBLIC_URL=${MOBILECA_PUBLIC_URL:-http://$HOST:$PORT}
export MOBILECA_DEMO=1  # the embedded default is a demo: sandboxes mounted, demo keys

$PY manage.py migrate --noinput -v0
$PY manage.py sandbox_keys
$PY manage.py ca_init
echo "Demo logins:"
$PY manage.py demo_seed

$PY manage.py run_huey --quiet &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM

cat <<TXT

  Mobile CA platform:   http://$HOST:$PORT/
  Back office:          http://$HOST:$PORT/backoffice/   (log in as finance)
  Job worker:           running (pid $worker): closes unpaid orders on time, queries pending payments,
                        delivers the sandboxes' notifications
  Payment sandboxes:    http://$HOST:$PORT/sandbox/alipay/ and /sandbox/wechatpay/ (the QR codes lead there)
  Stop with Ctrl-C.

TXT
exec_status=0
$PY manage.py runserver "$HOST:$PORT" --noreload || exec_status=$?
exit $exec_status
