#!/usr/bin/env bash
# `make run`: migrate the embedded SQLite database, load demo data, start the job worker and the web server
# (gunicorn, static files by WhiteNoise, debug off unless DJANGO_DEBUG=1).
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything under var/ is owner-only: every Python process sets umask 077 when it loads config/settings.py, and
# tighten_var takes group and other permissions away from what an older installation left there.
PY=.venv/bin/python
HOST=${MOBILECA_HOST:-127.0.0.1}
PORT=${MOBILECA_PORT:-8000}
# The sandboxes call back into this same server over HTTP (payment notifications, identity redirects, SMS, the
# bank): a request may wait on a sandbox request to this server, so there must always be free threads to serve it.
WORKERS=${MOBILECA_WEB_WORKERS:-2}
THREADS=${MOBILECA_WEB_THREADS:-8}
export MOBILECA_PUBLIC_URL=${MOBILECA_PUBLIC_URL:-http://$HOST:$PORT}
export MOBILECA_DEMO=1  # the embedded default is a demo: sandboxes mounted, demo keys
export DJANGO_DEBUG=${DJANGO_DEBUG:-0}

$PY manage.py tighten_var
$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
$PY manage.py sandbox_keys
$PY manage.py ca_init
echo "Demo logins:"
$PY manage.py demo_seed

$PY manage.py run_huey --quiet &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM

debug_note="off (DJANGO_DEBUG=1 make run for Django's debug pages)"
[ "$DJANGO_DEBUG" = "1" ] && debug_note="ON: never expose this server"
cat <<TXT

  Mobile CA platform:   http://$HOST:$PORT/
  Back office:          http://$HOST:$PORT/backoffice/   (log in as finance)
  Job worker:           running (pid $worker): closes unpaid orders on time, queries pending payments,
                        delivers the sandboxes' notifications, sequences the audit log every second
  Payment sandboxes:    http://$HOST:$PORT/sandbox/alipay/ and /sandbox/wechatpay/ (the QR codes lead there;
                        open to anyone by design: demo only)
  Web server:           gunicorn, $WORKERS workers × $THREADS threads; debug $debug_note
  Stop with Ctrl-C.

TXT
exec_status=0
$PY -m gunicorn config.wsgi:application \
  --bind "$HOST:$PORT" \
  --worker-class gthread --workers "$WORKERS" --threads "$THREADS" \
  --timeout 60 --graceful-timeout 10 --no-control-socket \
  --access-logfile - --error-logfile - \
  || exec_status=$?
exit $exec_status
