import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VITRINA_THREADS", "2")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def mini_dir(tmp_path) -> Path:
    """A writable copy of the 12-product fixture catalog (CSV, images, co-purchase pairs)."""
    dst = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", dst)
    return dst


@pytest.fixture
def spaces():
    from tests.fakes import fake_spaces

    return fake_spaces()


@pytest.fixture
def engine(tmp_path, mini_dir, spaces):
    """An engine over the imported fixture catalog with fake encoders."""
    from core.catalog import Catalog
    from core.engine import Engine
    from core.ingest import ColumnMapping, import_catalog

    cat = Catalog.create(tmp_path / "mini.vitrina")
    mapping = ColumnMapping.guess(["id", "title", "description", "brand", "price", "rating", "image"]) \
        .with_overrides(categories=("articleType", "baseColour"))
    list(import_catalog(cat, mini_dir / "products.csv", mapping, spaces))
    eng = Engine(cat, spaces)
    list(eng.load_indexes())
    yield eng
    cat.close()
