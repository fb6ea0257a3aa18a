// Package browsertest holds tests that drive a real browser (Debian's
// chromium package, through github.com/chromedp/chromedp) against the
// gateway's WebSocket side, and against the collaboration app
// (examples/collab: participant processes built by the tests, pages with
// fake media devices; Linux only). It is a module of its own so that the
// core library's import graph does not carry chromedp.
//
// The tests find an installed chromium (or chromium-browser, google-chrome)
// and download nothing. Without one they skip, unless CI=true, where they
// fail (.ci/run installs the package).
package browsertest
