"""The UI in a real browser: `streamlit run` on a free port, Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fixtures.documents import document
from tests.fixtures.ui import ARTIFACTS, UI_MODEL_MAX_INPUT_BYTES

pytestmark = pytest.mark.e2e

TEXT = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk. "
    "He cleaned the great lens, trimmed the wick and lit the lamp. "
    "Ships far out at sea saw the beam and steered clear of the rocks."
)


@pytest.mark.slow
def test_paste_a_text_run_summarize_and_see_the_summary(streamlit_server, chromium_page):
    from playwright.sync_api import expect

    page = chromium_page
    page.goto(streamlit_server.url, wait_until="domcontentloaded")
    text_box = page.get_by_label("Text", exact=True)
    expect(text_box).to_be_visible(timeout=30_000)
    text_box.fill(TEXT)
    text_box.press("Control+Enter")  # commits the value before the click reruns the script
    expect(page.get_by_text(f"{len(TEXT.encode())} of at most")).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Run", exact=True).click()

    expect(page.get_by_role("heading", name="Summary")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("The lighthouse keeper climbed", exact=False).last).to_be_visible()
    expect(page.get_by_text("miss", exact=True)).to_be_visible()
    expect(page.get_by_text("Service: serving")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "ui-process-summary.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000, streamlit_server.log()


# Records every text the Process page's progress bar shows, as the browser renders it.
RECORD_PROGRESS = """() => {
    window.progressTexts = [];
    new MutationObserver(() => {
        for (const bar of document.querySelectorAll('[data-testid="stProgress"]')) {
            const text = bar.innerText.trim();
            if (text && window.progressTexts.at(-1) !== text) window.progressTexts.push(text);
        }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.slow
def test_a_1_mb_upload_shows_the_progress_bar_then_the_chunk_figures(streamlit_server: Any, chromium_page: Any) -> None:
    """A 1 MB file over the server's 16 KB budget: the bar fills chunk by chunk while the
    service works, and the chunk and cache figures follow the summary."""
    from playwright.sync_api import expect

    page = chromium_page
    page.goto(streamlit_server.url, wait_until="domcontentloaded")
    expect(page.get_by_label("Text", exact=True)).to_be_visible(timeout=30_000)
    text = document(1_000_000, seed=21).encode()
    page.locator('input[type="file"]').set_input_files(
        files=[{"name": "report.txt", "mimeType": "text/plain", "buffer": text}]
    )
    expect(page.get_by_text("Using report.txt instead of the text box.")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"{len(text):,} of at most")).to_be_visible()

    page.evaluate(RECORD_PROGRESS)
    page.get_by_role("button", name="Run", exact=True).click()
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_contain_text(re.compile(r"\d+ of \d+ chunks done"), timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-process-progress.png"), full_page=True)

    expect(page.get_by_role("heading", name="Summary")).to_be_visible(timeout=120_000)
    for label in ("Chunks", "Chunks from cache", "Model calls"):
        expect(page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(f"^{label}$"))).to_be_visible()
    figures = dict(
        zip(
            page.get_by_test_id("stMetricLabel").all_inner_texts(),
            page.get_by_test_id("stMetricValue").all_inner_texts(),
        )
    )
    chunks = int(figures["Chunks"].replace(",", ""))
    assert chunks > len(text) // UI_MODEL_MAX_INPUT_BYTES, figures
    assert figures["Chunks from cache"] == "0", figures
    assert int(figures["Model calls"].replace(",", "")) > chunks, figures
    expect(bar).to_have_text(f"{chunks:,} of {chunks:,} chunks done, 0 from the cache")

    # The bar moved while the service worked: the browser showed it part way.
    seen = page.evaluate("window.progressTexts")
    done = [
        int(m.group(1).replace(",", "")) for t in seen if (m := re.match(rf"([\d,]+) of {chunks:,} chunks done", t))
    ]
    assert any(0 < n < chunks for n in done), seen
    page.screenshot(path=str(ARTIFACTS / "ui-process-chunks.png"), full_page=True)
