"""The code cells of the tiny notebook that tests/test_site.py runs through nbval: one cell per `# %%` block.

It prints, shows a PNG, draws a tqdm bar to its end, shows a box of widgets, and draws a bar that closes itself.
"""
# ruff: noqa: E402, I001

# %%
print("hello from the kernel")

# %%
import io

from IPython.display import Image as Picture
from IPython.display import display
from PIL import Image

buffer = io.BytesIO()
Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, "PNG")
png = buffer.getvalue()
display(Picture(data=png))

# %%
from tqdm.auto import tqdm

for _ in tqdm(range(3), desc="steps"):
    pass

# %%
import ipywidgets as widgets

widgets.VBox([widgets.HTML("<b>a caption</b>"), widgets.Image(value=png, format="png"),
              widgets.Checkbox(value=True, description="keep")])

# %%
for _ in tqdm(range(2), desc="gone", leave=False):
    pass
