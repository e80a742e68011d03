"""The Qt binding keeps Python's reference counts: PySide6 6.12.0 returned None from every void method
without a reference, so on Python 3.11 (where None is not immortal) each call dropped one and the
app aborted ("none_dealloc") a few thousand calls in, e.g. while drawing an 11,800-point map."""
import sys

from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsScene, QLabel


def test_void_calls_leave_nones_reference_count_alone(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    dot = QGraphicsScene(label).addEllipse(QRectF(0, 0, 8, 8))
    calls = 500  # x 4 stays below None's references at start-up: a leaking binding fails here instead of aborting
    before = sys.getrefcount(None)
    for i in range(calls):
        label.setText("x")
        dot.setToolTip("y")
        dot.setZValue(i)
        dot.setData(0, i)
    assert sys.getrefcount(None) - before > -calls  # a leaking binding: -4 x calls
