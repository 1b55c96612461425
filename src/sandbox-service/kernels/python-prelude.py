# Run silently in every Python kernel as it starts (language-snippets.ts), in our own words
# what E2B's image sets up with IPython start-up scripts and its chart extractor:
# - a DataFrame shown as a result also carries its columns as `data` (MIME e2b/data), up to
#   DATA_MAX_CELLS cells: a larger frame's columns would exceed the sandbox's output cap and
#   stop the run (a 100,000-row frame did); it goes to the table view's file instead;
# - a DataFrame shown also carries a table for the MCP viewer (MIME TABLE_MIME, our own): its
#   columns, row count and first rows; a longer frame is saved whole (gzipped columnar JSON) under
#   ~/.results/ for the viewer's result_page to read page by page (src/mcp-server/apps/);
# - a matplotlib figure shown also carries its chart as structured data (e2b/chart): type
#   (line, scatter, bar, pie, box_and_whisker, superchart with one chart per axes, unknown),
#   title, axis labels, units, scales, ticks and elements; E2B's field names;
# - a PIL image saved to a file is also displayed (a png result);
# - stdout and stderr go out in messages of at most 64 Ki characters: the server stops a kernel
#   that sends it one message larger than SANDBOX_MAX_KERNEL_MESSAGE_BYTES (2 × the output cap
#   + 1 MiB), and a print of 10 MB, or a flood between two flushes, is to be cut at the output
#   cap rather than end the kernel; a writer faster than that waits for its output to go out.
# Nothing here imports pandas, matplotlib or PIL before the user's code does.
def _sandbox_prelude():
    import collections
    import math
    import re
    import sys

    from IPython import get_ipython
    from IPython.core.formatters import BaseFormatter
    from traitlets import ObjectName, Unicode

    def number(value):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value

    DATA_MAX_CELLS = 50_000
    TABLE_MIME = "application/vnd.fc-code-interpreter.table+json"
    TABLE_FIRST_ROWS = 50
    TABLE_CELL_CHARS = 1000  # a longer text cell is cut in the first rows (the MCP side cuts it as well)
    TABLE_MAX_CELLS = 5_000_000  # what a saved table holds at most (about 60 MB of JSON)
    TABLE_FILES_KEPT = 20  # the newest saved tables kept per workspace

    class DataFrameColumns(BaseFormatter):
        format_type = Unicode("e2b/data")
        print_method = ObjectName("_repr_e2b_data_")
        _return_type = (dict,)

        def __call__(self, obj):
            pandas = sys.modules.get("pandas")
            if pandas is None or not isinstance(obj, pandas.DataFrame):
                return super().__call__(obj)
            if obj.shape[0] * max(obj.shape[1], 1) > DATA_MAX_CELLS:
                return None
            columns = obj.to_dict(orient="list")
            return {
                str(name): [v.isoformat() if isinstance(v, pandas.Timestamp) else v for v in values]
                for name, values in columns.items()
            }

    def column_json(series):
        """A column as a JSON array: numbers (NaN and infinities as null), ISO times, strings, booleans, null.

        pandas' and numpy's C encoders where they apply: a 100,000-row datetime column took 0.7 s as
        astype(str), 0.1 s here; numbers keep 15 significant digits (to_json's most).
        """
        import json

        import numpy

        kind = series.dtype.kind
        if kind in "iufb":
            return series.to_json(orient="values", double_precision=15)
        if kind == "M" and getattr(series.dtype, "tz", None) is None:
            values = series.values
            whole = numpy.isnat(values) | (values.astype("int64") % 1_000_000_000 == 0)
            texts = numpy.datetime_as_string(values, unit="s" if whole.all() else "us").tolist()
            return json.dumps([None if text == "NaT" else text for text in texts])
        if kind in "Mm":
            texts = zip(series.astype(str).tolist(), series.isna().tolist())
            return json.dumps([None if missing else text for text, missing in texts])
        plain = (str, int, bool)
        return json.dumps(
            [v if v is None or isinstance(v, plain) else (number(v) if isinstance(v, float) else str(v)) for v in series.tolist()]
        )

    def save_table(frame, columns):
        import gzip
        import json
        import os
        import uuid

        folder = os.path.join(os.environ.get("HOME") or os.getcwd(), ".results")
        os.makedirs(folder, exist_ok=True)
        saved = sorted(
            (entry for entry in os.scandir(folder) if entry.name.endswith(".json.gz")), key=lambda e: e.stat().st_mtime
        )
        for entry in saved[: max(0, len(saved) - TABLE_FILES_KEPT + 1)]:
            os.unlink(entry.path)
        rows = min(frame.shape[0], TABLE_MAX_CELLS // max(len(columns), 1))
        part = frame.iloc[:rows]
        data = ",".join(column_json(part.iloc[:, i]) for i in range(len(columns)))
        text = '{"columns":' + json.dumps(columns) + ',"data":[' + data + "]}"
        name = uuid.uuid4().hex + ".json.gz"
        # gzip's fastest level: a quarter of the bytes for the file API to carry on every page, for ~40 ms here.
        with open(os.path.join(folder, name), "wb") as out:
            out.write(gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=0))
        return ".results/" + name, rows

    class TableView(BaseFormatter):
        format_type = Unicode(TABLE_MIME)
        print_method = ObjectName("_repr_fc_table_")
        _return_type = (dict,)

        def __call__(self, obj):
            pandas = sys.modules.get("pandas")
            if not self.enabled or pandas is None or not isinstance(obj, pandas.DataFrame):
                return super().__call__(obj)
            try:
                import json

                frame = obj
                if not isinstance(frame.index, pandas.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
                    frame = frame.reset_index()
                columns = [{"name": str(name), "dtype": str(dtype)} for name, dtype in frame.dtypes.items()]
                head = frame.iloc[:TABLE_FIRST_ROWS]
                data = [json.loads(column_json(head.iloc[:, i])) for i in range(len(columns))]
                cut = lambda v: v[:TABLE_CELL_CHARS] + "…" if isinstance(v, str) and len(v) > TABLE_CELL_CHARS else v  # noqa: E731
                rows = [[cut(v) for v in row] for row in zip(*data)]
                table = {"columns": columns, "row_count": int(frame.shape[0]), "rows": rows}
                if not columns:
                    table["rows"] = []
                if frame.shape[0] > TABLE_FIRST_ROWS:
                    table["file"], table["saved_rows"] = save_table(frame, columns)
                return table
            except Exception:  # a table we cannot save is no reason to lose the result
                return None

    # --- charts -------------------------------------------------------------------------

    def unit_of(label):
        found = re.search(r"[(\[]([^()\[\]]+)[)\]]\s*$", label or "")
        return found.group(1).strip() if found else None

    def scale_of(axis):
        converter = getattr(axis, "converter", None)
        name = type(converter).__name__ if converter is not None else ""
        if "Date" in name:
            return "datetime"
        if "StrCategory" in name:
            return "categorical"
        return axis.get_scale()

    def coordinate(value, scale):
        if scale == "datetime":
            from matplotlib.dates import num2date

            return num2date(value).isoformat()
        return number(value)

    def ticks_of(axis, scale):
        ticks = list(axis.get_majorticklocs())
        labels = [str(label) for label in axis.get_major_formatter().format_ticks(ticks)]
        return [coordinate(tick, scale) for tick in ticks], labels

    def tick_label_at(axis, position):
        ticks = list(axis.get_majorticklocs())
        if not ticks:
            return None
        nearest = min(range(len(ticks)), key=lambda i: abs(ticks[i] - position))
        return str(axis.get_major_formatter().format_ticks(ticks)[nearest])

    def shown_label(artist):
        label = artist.get_label()
        return "" if not label or label.startswith("_") else label

    def pie_elements(ax, wedges):
        return [
            # Wedge angles are float32 inside matplotlib: 324 comes out as 323.99999.
            {"label": shown_label(w), "angle": round(number(abs(w.theta2 - w.theta1)), 3), "radius": number(w.r)}
            for w in wedges
        ]

    def box_elements(ax, boxes):
        lines = list(ax.lines)
        elements = []
        for box in boxes:
            xs = [x for x, _ in box]
            ys = [y for _, y in box]
            left, right = min(xs), max(xs)
            center = (left + right) / 2
            q1, q3 = min(ys), max(ys)
            width = right - left
            near = lambda x: abs(x - center) <= width * 0.01 + 1e-9  # noqa: E731
            ends, median, outliers = [], None, []
            for line in lines:
                x, y = line.get_xdata(orig=False), line.get_ydata(orig=False)
                if len(x) == 0:
                    continue
                if line.get_linestyle() in ("None", "", " ") and all(near(v) for v in x):
                    outliers.extend(number(v) for v in y)
                elif len(x) == 2 and near(x[0]) and near(x[1]) and y[0] != y[1]:
                    ends.extend(number(v) for v in y)
                elif len(x) == 2 and y[0] == y[1] and abs(x[0] - left) < 1e-9 and abs(x[1] - right) < 1e-9:
                    median = number(y[0])
            if not ends:
                return None
            elements.append(
                {
                    "label": tick_label_at(ax.xaxis, center) or "",
                    "min": min(ends),
                    "first_quartile": number(q1),
                    "median": median,
                    "third_quartile": number(q3),
                    "max": max(ends),
                    "outliers": outliers,
                }
            )
        return elements

    def boxes_of(ax):
        """Box outlines: boxplot's patches (patch_artist=True) or its closed 5-point lines."""
        from matplotlib.patches import PathPatch

        boxes = [p.get_path().vertices.tolist() for p in ax.patches if isinstance(p, PathPatch)]
        if not boxes:
            for line in ax.lines:
                x, y = line.get_xdata(orig=False), line.get_ydata(orig=False)
                if len(x) == 5 and x[0] == x[4] and y[0] == y[4] and len(set(x)) == 2 and len(set(y)) == 2:
                    boxes.append(list(zip(x, y)))
        return [[(float(x), float(y)) for x, y in box] for box in boxes]

    def bar_elements(ax, containers):
        elements = []
        for container in containers:
            group = shown_label(container) if hasattr(container, "get_label") else ""
            horizontal = getattr(container, "orientation", "vertical") == "horizontal"
            for bar in container.patches:
                if horizontal:
                    position, value, axis = bar.get_y() + bar.get_height() / 2, bar.get_width(), ax.yaxis
                else:
                    position, value, axis = bar.get_x() + bar.get_width() / 2, bar.get_height(), ax.xaxis
                elements.append({"label": tick_label_at(axis, position) or "", "group": group, "value": number(value)})
        return elements

    def axes_chart(ax):
        from matplotlib.container import BarContainer
        from matplotlib.collections import PathCollection
        from matplotlib.patches import Wedge

        x_label, y_label = ax.get_xlabel() or None, ax.get_ylabel() or None
        chart = {"type": "unknown", "title": ax.get_title() or None, "elements": []}
        wedges = [p for p in ax.patches if isinstance(p, Wedge)]
        if wedges:
            chart.update(type="pie", elements=pie_elements(ax, wedges))
            return chart
        x_scale, y_scale = scale_of(ax.xaxis), scale_of(ax.yaxis)
        x_ticks, x_tick_labels = ticks_of(ax.xaxis, x_scale)
        y_ticks, y_tick_labels = ticks_of(ax.yaxis, y_scale)
        axes = {
            "x_label": x_label,
            "y_label": y_label,
            "x_unit": unit_of(x_label),
            "y_unit": unit_of(y_label),
        }
        scales = {
            "x_scale": x_scale,
            "y_scale": y_scale,
            "x_ticks": x_ticks,
            "x_tick_labels": x_tick_labels,
            "y_ticks": y_ticks,
            "y_tick_labels": y_tick_labels,
        }
        boxes = boxes_of(ax)
        box_elements_found = box_elements(ax, boxes) if boxes else None
        if box_elements_found:
            chart.update(type="box_and_whisker", elements=box_elements_found, **axes)
            return chart
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        if bars:
            chart.update(type="bar", elements=bar_elements(ax, bars), **axes)
            return chart
        scatters = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
        lines = [line for line in ax.lines if len(line.get_xdata(orig=False))]
        if scatters and not lines:
            elements = [
                {
                    "label": shown_label(c),
                    "points": [[coordinate(x, x_scale), coordinate(y, y_scale)] for x, y in c.get_offsets()],
                }
                for c in scatters
            ]
            chart.update(type="scatter", elements=elements, **axes, **scales)
        elif lines:
            elements = [
                {
                    "label": shown_label(line),
                    "points": [
                        [coordinate(x, x_scale), coordinate(y, y_scale)]
                        for x, y in zip(line.get_xdata(orig=False), line.get_ydata(orig=False))
                    ],
                }
                for line in lines
            ]
            chart.update(type="line", elements=elements, **axes, **scales)
        return chart

    def figure_chart(figure):
        axes = [ax for ax in figure.get_axes() if ax.get_visible()]
        suptitle = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) is not None else None
        if len(axes) == 1:
            chart = axes_chart(axes[0])
            chart["title"] = chart["title"] or suptitle or None
            return chart
        return {"type": "superchart" if axes else "unknown", "title": suptitle or None, "elements": [axes_chart(ax) for ax in axes]}

    class FigureChart(BaseFormatter):
        format_type = Unicode("e2b/chart")
        print_method = ObjectName("_repr_e2b_chart_")
        _return_type = (dict,)

        def __call__(self, obj):
            if "matplotlib" not in sys.modules:
                return super().__call__(obj)
            from matplotlib.figure import Figure

            if not isinstance(obj, Figure):
                return super().__call__(obj)
            try:
                return figure_chart(obj)
            except Exception:  # a chart we cannot read is no reason to lose the png
                return None

    shell = get_ipython()
    shell.display_formatter.formatters["e2b/data"] = DataFrameColumns(parent=shell.display_formatter)
    shell.display_formatter.formatters["e2b/chart"] = FigureChart(parent=shell.display_formatter)
    shell.display_formatter.formatters[TABLE_MIME] = TableView(parent=shell.display_formatter)
    # A kernel's first result pays for the formatters' first use: paid here, while a spare waits in the pool.
    shell.display_formatter.format(0)

    # --- PIL: display on save ---------------------------------------------------------------

    class DisplayOnSave:
        """Patches PIL.Image.Image.save once PIL.Image is first imported."""

        def find_spec(self, name, path=None, target=None):
            if name != "PIL.Image":
                return None
            import importlib.machinery

            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                save = module.Image.save

                def save_and_show(image, fp, format=None, **params):
                    if isinstance(fp, (str, bytes)) or hasattr(fp, "__fspath__"):
                        from IPython.display import display

                        display(image)
                    return save(image, fp, format, **params)

                module.Image.save = save_and_show

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, DisplayOnSave())

    from ipykernel.iostream import OutStream

    chunk = 1 << 16
    flush_buffer, flush = OutStream._flush_buffer, OutStream._flush

    def _flush_buffer(self):
        # What one flush sends: the next piece of what was buffered (_flush sends until none is left).
        rest = self.__dict__.setdefault("_sandbox_rest", collections.deque())
        if not rest:
            data = flush_buffer(self)
            rest.extend(data[at : at + chunk] for at in range(0, len(data), chunk))
        return rest.popleft() if rest else ""

    def _flush(self):
        flush(self)
        while self.__dict__.get("_sandbox_rest"):
            flush(self)

    write = OutStream.write

    def _write(self, string):
        # A writer faster than its output goes out waits for it (about 1 MiB buffered at most):
        # else a print loop buffers hundreds of MB before an interrupt lands, all to be sent after.
        written = write(self, string)
        if self._buffer.tell() > 1 << 20:
            self.flush()
        return written

    OutStream._flush_buffer = _flush_buffer
    OutStream._flush = _flush
    OutStream.write = _write


_sandbox_prelude()
del _sandbox_prelude


# Packages installed into the workspace while the kernel runs (install_packages, `%pip install`,
# `!pip install`: pip --user, PYTHONUSERBASE in the workspace, src/sandbox-service/packages/)
# import without a restart: site.py put the user site on sys.path at start only if it existed
# then, so it is added (before the system's packages, where site.py puts it, .pth files read)
# and the import caches are refreshed (Python caches "no such directory" for a path entry).
# After every %pip, and before each cell (for a `!pip install` in the cell before).
def _sandbox_packages_setup():
    import importlib
    import os
    import site
    import sys
    import types

    from IPython import get_ipython

    def activate(refresh=True):
        user_site = site.getusersitepackages()
        if user_site not in sys.path and os.path.isdir(user_site):
            system = next((i for i, entry in enumerate(sys.path) if entry.endswith(("-packages", "-packages/"))), len(sys.path))
            site.addsitedir(user_site)
            sys.path.remove(user_site)
            sys.path.insert(system, user_site)
            refresh = True
        if refresh:
            importlib.invalidate_caches()

    module = types.ModuleType("_sandbox_packages")
    module.activate = activate
    sys.modules["_sandbox_packages"] = module

    shell = get_ipython()
    shell.events.register("pre_run_cell", lambda *_: activate(refresh=False))
    pip = shell.find_line_magic("pip")
    if pip is not None:

        def pip_then_activate(line):
            result = pip(line)
            activate()
            return result

        pip_then_activate.__doc__ = pip.__doc__
        shell.register_magic_function(pip_then_activate, "line", "pip")


_sandbox_packages_setup()
del _sandbox_packages_setup
