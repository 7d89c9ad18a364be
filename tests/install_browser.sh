#!/bin/sh
# The browser tests (tests/test_ui_browser.py) drive the system's Chromium; browsers cannot be
# downloaded by Playwright here. Install Debian's package when it is missing and this user may
# (root, or password-less sudo); otherwise say why, and the browser tests skip (fail under CI=true).
for name in chromium chromium-browser google-chrome; do
    command -v "$name" >/dev/null 2>&1 && exit 0
done
[ -n "$ASSAY_CHROMIUM" ] && exit 0
install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no Chromium and no apt-get: install Chromium (or set ASSAY_CHROMIUM) for the browser tests" >&2
elif [ "$(id -u)" = 0 ]; then
    sh -c "$install"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n sh -c "$install"
else
    echo "no Chromium: run 'sudo apt-get install chromium' for the browser tests" >&2
fi
exit 0
