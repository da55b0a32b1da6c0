"""Training, conversion and evaluation of the emotion models: developer tools that need
the ``train`` extra (TensorFlow, scikit-learn) and the rated data. Nothing here runs
when the app scores a file; that is ``emobrowser.models``."""
