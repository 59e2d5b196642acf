"""app.py, the app's frame, through streamlit.testing (no browser): every page runs inside it with its
sidebar (which model, which device, models grouped by dataset), and the pages live in app_pages/.
Each page's own tests are in tests/test_<page>_page.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, app
from ui.session.state import device_label
from unlearning.device import available_devices
from unlearning.storage.folders import default_model_path

pytestmark = pytest.mark.usefixtures("local_models")  # from conftest


def test_there_is_no_pages_folder():
    """A folder named pages/ next to app.py makes Streamlit run its first request in the old pages/ mode,
    where a page's own address is "Page not found" on a fresh server: the pages live in app_pages/."""
    assert not (ROOT / "pages").exists()


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "app_pages").glob("*.py")))
def test_every_page_runs_inside_the_app_with_its_sidebar(page):
    """A page never runs alone: app.py draws the sidebar around each one."""
    at = app(f"app_pages/{page}")
    assert at.sidebar.selectbox(key="model_path").value == str(default_model_path())
    device = at.sidebar.selectbox(key="device")
    assert device.value == available_devices()[0] and device.options == [device_label(d) for d in available_devices()]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_sidebar_groups_models_by_dataset_and_a_full_size_model_forgets_on_its_clothes():
    at = app()
    data = at.sidebar.selectbox(key="_dataset")
    assert data.value == "mnist5k" and "Clothes (70,000)" in data.options
    data.set_value("fashion-mnist").run()
    model = at.sidebar.selectbox(key="model_path")
    assert model.value.endswith("resnet8-fashion.safetensors")  # the full-size default comes first
    assert all("fashion" in o for o in model.options)
    at.switch_page("app_pages/forget.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["_dataset"] == "fashion-mnist"  # the group follows the model across pages
    names = at.multiselect(key="classes::resnet8-fashion").options
    assert names[0] == "T-shirt/top" and "Ankle boot" in names  # the dataset's own class names
