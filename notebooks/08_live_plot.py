# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: incoming (.venv)
#     language: python
#     name: incoming
# ---

# %% [markdown]
# # 8. The live plot
#
# Step 08: the client draws instead of printing. `GetIncoming()` says which sources there
# are, so the client sets up one chart each; the `Message` task feeds them, and a third
# task redraws ten times a second, however fast messages come. Drawing is slow, so it
# does not happen per message: a frame clock draws whatever arrived since the last frame.
# While it draws, new messages wait in the client's socket; the server never waits for
# any client.
#
# In JupyterLab the plot below is live (an ipympl widget) and keeps moving while you read
# on, after "Run All" too; run headless (the tests, `jupyter nbconvert --execute`), the
# notebook shows the picture the same code drew.

# %%
import asyncio

import talk

talk.intro(8)
mode = talk.plotting()

# %% [markdown]
# The client's three tasks: feed the charts from the signal, set them up from
# `GetIncoming()`, redraw on a frame clock.

# %%
talk.show(8, "client.py", "feed_charts", "setup_charts", "redraw")

# %% [markdown]
# `chart.py` is the matplotlib side. A chart shows numbers as values, GPIO edges as a
# step line, and anything else as a message rate:

# %%
talk.show(8, "chart.py", "Series")

# %% [markdown]
# ## The server, and real data
#
# As before: a private bus, the receiver on `load` and `sine` with its simulated GPIO
# line, and the feeder.

# %% tags=["server"]
bus = talk.bus()
receiver = talk.start("receiver", 8, "load", "sine")
receiver.wait_for("on the bus as org.example.Incoming")
feeder = talk.feeder("load", "sine", rate=10)

# %% [markdown]
# ## The plot, drawn by the step's own code in this kernel
#
# We import step 08's `client.py` and run its coroutines as tasks on the kernel's loop:
# `feed_charts()` iterates over `Message`, `redraw()` draws ten frames a second.

# %% tags=["charts"]
step8 = talk.load(8, "client.py")
charts = talk.live_charts(step8.chart)
proxy = step8.Incoming.new_proxy(step8.NAME, step8.PATH)
charts.setup(await proxy.get_incoming())
tasks = [
    asyncio.create_task(step8.feed_charts(proxy, charts)),
    asyncio.create_task(step8.redraw(charts)),
]

# %% [markdown]
# Five seconds of data. (Headless, this is where the picture appears.)

# %% tags=["plot"]
await talk.watch_plot(charts, seconds=5)

# %% [markdown]
# ## The step's client, as a program
#
# `client.py --save` writes the picture instead of opening a window: here, three seconds'
# worth. It is the same code as above, in its own process, with its own connection.

# %% tags=["client"]
picture = talk.RUNTIME / "client.png"
client = talk.start(
    "client", 8, "--save", str(picture), "--seconds", "3", program="client.py", ready="one chart"
)
client.wait_for(f"wrote {picture}")
client.show()
talk.show_image(picture)

# %% [markdown]
# The end: the plot's tasks (every task running the step's code), then the programs and
# the private bus. In JupyterLab that is a button, not a cell: "Run All" runs every cell,
# and a stop cell would end the live plot a moment after it started. So the plot above
# keeps moving until you press **Stop the plot**; to start again, re-run the server cell
# and the plot cells. (Run headless, this cell stops everything at once.)

# %% tags=["stopped"]
talk.stop_button()

# %% [markdown]
# ## Exercise: step 08 from step 07
#
# Your copy of **step 07** is in `my_steps/08_live_plot/`, with step 08's `chart.py`.
# Make its `client.py` draw instead of print: set the charts up from `GetIncoming()`, feed
# them from the signal, redraw from a third task. The graders of `make check-8` run your
# client with `--save` and look at the picture.

# %%
exercise = talk.exercise(8)

# %% tags=["check"]
exercise.check()
