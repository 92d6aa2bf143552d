"""Operations around the DVC pipeline: releases, rollback, comparison, daily inference, retraining."""
