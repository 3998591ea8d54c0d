"""Generator families behind one interface (see ``l2l_utils.models.base``)."""
