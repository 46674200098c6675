#!/usr/bin/env bash
# `make run`: migrate the embedded SQLite database, load demo data, start the job worker and the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${MOBILECA_HOST:-127.0.0.1}
PORT=${MOBILECA_PORT:-8000}

$PY manage.py migrate --noinput -v0
echo "Demo logins:"
$PY manage.py demo_seed

$PY manage.py run_huey --quiet &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM

cat <<TXT

  Mobile CA platform:   http://$HOST:$PORT/
  Back office:          http://$HOST:$PORT/backoffice/   (log in as finance)
  Job worker:           running (pid $worker): closes unpaid orders on time
  Stop with Ctrl-C.

TXT
exec_status=0
$PY manage.py runserver "$HOST:$PORT" --noreload || exec_status=$?
exit $exec_status
