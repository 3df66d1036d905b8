"""The files in a dataset folder that say what the dataset is: its settings and the options file of
each optional stage. Kept apart from the modules that read them (pydantic settings over the raster
and scene stack) so that asking which stages are on, or finding the folder, imports nothing heavy."""

SETTINGS_FILE = "dataset.json"  # DatasetSettings
SELECTION_FILE = "selection.json"  # SelectionSettings: scene selection is on
IMAGES_FILE = "images.json"  # ImageSettings: images are on
REFINEMENT_FILE = "refinement.json"  # RefinementSettings: cloud refinement is on
