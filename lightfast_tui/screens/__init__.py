"""Screens pushed over the tabs: the confirmation modal and the help screen."""
