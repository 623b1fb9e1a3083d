"""What the console and the headless commands show, as plain data and text: rows for the
overview (``overview.py``), panels for the detail screen (``detail.py``), the snapshot the UI
polls (``snapshot.py``), event lines and labels (``text.py``). No Textual here."""
