#!/usr/bin/env bash
# Refresh the translation catalogues after changing interface text: collects every marked
# string from templates, Python and static/js into locale/<lang>/LC_MESSAGES/*.po, then
# compiles them to the .mo files Django loads. Translate the new entries in the .po files
# (empty msgstr) and run it again; tests/test_i18n.py fails while any entry is missing.
source "$(dirname "$0")/lib.sh"
ensure_venv requirements-dev.txt
ensure_gettext
ignore=(--ignore=.venv --ignore=node_modules --ignore=staticfiles --ignore=test-output --ignore=static/vendor --ignore=tests)
for lang in $(.venv/bin/python manage.py shell -v 0 -c 'from marketplace.i18n import shipped_languages; print(" ".join(shipped_languages()))'); do
  .venv/bin/python manage.py makemessages -l "$lang" --no-obsolete --no-location "${ignore[@]}"
  .venv/bin/python manage.py makemessages -l "$lang" -d djangojs --no-obsolete --no-location "${ignore[@]}"
done
.venv/bin/python manage.py compilemessages --ignore=.venv
